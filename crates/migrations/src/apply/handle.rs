//! The connection a backend migrates through: one it opened itself, or one the application lends it
//! (its own, or one of its pool's), which must be handed back as it was found.

use std::ops::{Deref, DerefMut};

/// A diesel connection the backend owns, or borrows for as long as it lives.
pub(crate) enum Handle<'c, C> {
    /// Opened by the backend from a path or URL; closed with it.
    Own(C),
    /// The application's: the backend restores what it changed of it when it goes.
    Lent(&'c mut C),
}

impl<C> Handle<'_, C> {
    pub(crate) fn is_lent(&self) -> bool {
        matches!(self, Self::Lent(_))
    }
}

impl<C> Deref for Handle<'_, C> {
    type Target = C;

    fn deref(&self) -> &C {
        match self {
            Self::Own(conn) => conn,
            Self::Lent(conn) => conn,
        }
    }
}

impl<C> DerefMut for Handle<'_, C> {
    fn deref_mut(&mut self) -> &mut C {
        match self {
            Self::Own(conn) => conn,
            Self::Lent(conn) => conn,
        }
    }
}
