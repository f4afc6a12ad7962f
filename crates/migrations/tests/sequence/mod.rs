//! The autogenerate test sequence: one model change after another, each with what its migration
//! must contain and the rows it must keep. `autogenerate.rs` runs it through the engine, and the
//! `workhub` tests (`online.rs`) through `db create`'s generation, `db lint` and `db upgrade`, on
//! SQLite, PostgreSQL and (with the `mysql` feature) MySQL. Columns that are indexed are `VARCHAR`
//! (`max_length`): MySQL indexes no `TEXT` without a prefix length.

// Each test crate that includes this uses its own part of it.
#![allow(dead_code)]

use workhub_schema::{Change, Schema};

pub mod s01 {
    workhub_schema::tables! {
        authors (id) {
            id -> BigInt,
            #[max_length = 100]
            name -> Text,
        }
        books (id) {
            id -> BigInt,
            #[references(authors.id)]
            author_id -> BigInt,
            #[max_length = 100]
            title -> Text,
        }
    }
}
pub mod s02 {
    workhub_schema::tables! {
        authors (id) {
            id -> BigInt,
            #[max_length = 100]
            name -> Text,
        }
        books (id) {
            id -> BigInt,
            #[references(authors.id)]
            author_id -> BigInt,
            #[max_length = 100]
            title -> Text,
            pages -> Nullable<Integer>,
        }
    }
}
pub mod s03 {
    workhub_schema::tables! {
        authors (id) {
            id -> BigInt,
            #[max_length = 100]
            name -> Text,
        }
        books (id) {
            id -> BigInt,
            #[references(authors.id)]
            author_id -> BigInt,
            #[max_length = 100]
            title -> Text,
            pages -> Nullable<Integer>,
            #[default = "''"]
            isbn -> Text,
        }
    }
}
pub mod s04 {
    workhub_schema::tables! {
        authors (id) {
            id -> BigInt,
            #[max_length = 100]
            name -> Text,
        }
        #[index(books_title_idx, title)]
        books (id) {
            id -> BigInt,
            #[references(authors.id)]
            author_id -> BigInt,
            #[max_length = 100]
            title -> Text,
            pages -> Nullable<Integer>,
            #[default = "''"]
            isbn -> Text,
        }
    }
}
pub mod s05 {
    workhub_schema::tables! {
        authors (id) {
            id -> BigInt,
            #[max_length = 100]
            name -> Text,
        }
        #[index(books_title_idx, title)]
        books (id) {
            id -> BigInt,
            #[references(authors.id)]
            author_id -> BigInt,
            #[max_length = 100]
            title -> Text,
            #[default = "0"]
            pages -> Integer,
            #[default = "''"]
            isbn -> Text,
        }
    }
}
pub mod s06 {
    workhub_schema::tables! {
        authors (id) {
            id -> BigInt,
            #[max_length = 100]
            name -> Text,
        }
        #[index(books_title_idx, title)]
        books (id) {
            id -> BigInt,
            #[references(authors.id)]
            author_id -> BigInt,
            #[max_length = 200]
            title -> Text,
            #[default = "0"]
            pages -> Integer,
            #[default = "''"]
            isbn -> Text,
        }
    }
}
pub mod s07 {
    workhub_schema::tables! {
        authors (id) {
            id -> BigInt,
            #[max_length = 100]
            name -> Text,
        }
        #[index(books_title_idx, title)]
        books (id) {
            id -> BigInt,
            #[references(authors.id)]
            author_id -> BigInt,
            #[max_length = 200]
            title -> Text,
            #[default = "0"]
            pages -> Integer,
            #[default = "'unknown'"]
            isbn -> Text,
        }
    }
}
pub mod s08 {
    workhub_schema::tables! {
        authors (id) {
            id -> BigInt,
            #[unique]
            #[max_length = 100]
            name -> Text,
        }
        #[index(books_title_idx, title)]
        books (id) {
            id -> BigInt,
            #[references(authors.id)]
            author_id -> BigInt,
            #[max_length = 200]
            title -> Text,
            #[default = "0"]
            pages -> Integer,
            #[default = "'unknown'"]
            isbn -> Text,
        }
    }
}
pub mod s09 {
    pub use super::s07::schema;
}
pub mod s10 {
    workhub_schema::tables! {
        authors (id) {
            id -> BigInt,
            #[max_length = 100]
            name -> Text,
        }
        #[index(books_title_idx, title)]
        books (id) {
            id -> BigInt,
            #[references(authors.id, on_delete = cascade)]
            author_id -> BigInt,
            #[max_length = 200]
            title -> Text,
            #[default = "0"]
            pages -> Integer,
            #[default = "'unknown'"]
            isbn -> Text,
        }
    }
}
pub mod s11 {
    workhub_schema::tables! {
        authors (id) {
            id -> BigInt,
            #[max_length = 100]
            name -> Text,
        }
        #[index(books_title_idx, title)]
        books (id) {
            id -> BigInt,
            author_id -> BigInt,
            #[max_length = 200]
            title -> Text,
            #[default = "0"]
            pages -> Integer,
            #[default = "'unknown'"]
            isbn -> Text,
        }
    }
}
pub mod s12 {
    workhub_schema::tables! {
        authors (id) {
            id -> BigInt,
            #[max_length = 100]
            name -> Text,
        }
        #[index(books_title_idx, title)]
        books (id) {
            id -> BigInt,
            #[references(authors.id, on_delete = set_null)]
            author_id -> Nullable<BigInt>,
            #[max_length = 200]
            title -> Text,
            #[default = "0"]
            pages -> Integer,
            #[default = "'unknown'"]
            isbn -> Text,
        }
    }
}
pub mod s13 {
    workhub_schema::tables! {
        authors (id) {
            id -> BigInt,
            #[max_length = 100]
            name -> Text,
        }
        books (id) {
            id -> BigInt,
            #[references(authors.id, on_delete = set_null)]
            author_id -> Nullable<BigInt>,
            #[max_length = 200]
            title -> Text,
            #[default = "0"]
            pages -> Integer,
            #[default = "'unknown'"]
            isbn -> Text,
        }
    }
}
pub mod s14 {
    workhub_schema::tables! {
        authors (id) {
            id -> BigInt,
            #[max_length = 100]
            name -> Text,
        }
        books (id) {
            id -> BigInt,
            #[references(authors.id, on_delete = set_null)]
            author_id -> Nullable<BigInt>,
            #[max_length = 200]
            title -> Text,
            #[default = "0"]
            pages -> Integer,
        }
    }
}
pub mod s15 {
    workhub_schema::tables! {
        authors (id) {
            id -> BigInt,
            #[max_length = 100]
            name -> Text,
        }
        books (id) {
            id -> BigInt,
            #[references(authors.id, on_delete = set_null)]
            author_id -> Nullable<BigInt>,
            #[max_length = 200]
            title -> Text,
            #[default = "0"]
            pages -> Integer,
        }
        #[unique_index(book_tags_tag_book_idx, tag, book_id)]
        book_tags (book_id, tag) {
            #[references(books.id, on_delete = cascade)]
            book_id -> BigInt,
            #[max_length = 50]
            tag -> Text,
        }
    }
}
pub mod s16 {
    workhub_schema::tables! {
        authors (id) {
            id -> BigInt,
            #[max_length = 100]
            name -> Text,
        }
        books (id) {
            id -> BigInt,
            #[references(authors.id, on_delete = set_null)]
            author_id -> Nullable<BigInt>,
            #[max_length = 200]
            title -> Text,
            #[default = "0"]
            pages -> Integer,
        }
        #[unique_index(book_tags_tag_book_idx, tag, book_id)]
        book_tags (tag, book_id) {
            #[references(books.id, on_delete = cascade)]
            book_id -> BigInt,
            #[max_length = 50]
            tag -> Text,
        }
    }
}
pub mod s17 {
    workhub_schema::tables! {
        authors (id) {
            id -> BigInt,
            #[max_length = 100]
            name -> Text,
        }
        books (id) {
            id -> BigInt,
            #[references(authors.id, on_delete = set_null)]
            author_id -> Nullable<BigInt>,
            #[max_length = 200]
            title -> Text,
            #[default = "0"]
            page_count -> Integer,
        }
        #[unique_index(book_tags_tag_book_idx, tag, book_id)]
        book_tags (tag, book_id) {
            #[references(books.id, on_delete = cascade)]
            book_id -> BigInt,
            #[max_length = 50]
            tag -> Text,
        }
    }
}
pub mod s18 {
    workhub_schema::tables! {
        authors (id) {
            id -> BigInt,
            #[max_length = 100]
            name -> Text,
        }
        #[check(books_pages_positive, "page_count >= 0")]
        books (id) {
            id -> BigInt,
            #[references(authors.id, on_delete = set_null)]
            author_id -> Nullable<BigInt>,
            #[max_length = 200]
            title -> Text,
            #[default = "0"]
            page_count -> Integer,
        }
    }
}
pub mod s19 {
    workhub_schema::tables! {
        authors (id) {
            id -> BigInt,
            #[max_length = 100]
            name -> Text,
        }
        #[check(books_pages_positive, "page_count >= 0")]
        books (id) {
            id -> BigInt,
            #[references(authors.id, on_delete = set_null)]
            author_id -> Nullable<BigInt>,
            #[max_length = 150]
            title -> Text,
            #[default = "0"]
            page_count -> Integer,
        }
    }
}

/// One model change: the model after it, what the generated migration must contain, `(query,
/// expected)` pairs checked once it is applied, and SQL run after it (rows for later steps to keep).
pub struct Step {
    pub name: &'static str,
    pub model: fn() -> Schema,
    pub expect: fn(&Change) -> bool,
    pub up_contains: &'static [&'static str],
    pub then: &'static str,
    pub checks: &'static [(&'static str, i64)],
    /// What the step made on MySQL, read from `information_schema` (`DATABASE()` is the test's).
    pub mysql_checks: &'static [(&'static str, i64)],
}

/// `information_schema` queries on the current database, for [`Step::mysql_checks`].
macro_rules! columns {
    ($table:literal, $where:literal) => {
        concat!(
            "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '",
            $table, "' AND ", $where
        )
    };
}
macro_rules! foreign_keys {
    ($where:literal) => {
        concat!(
            "SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = 'books'",
            $where
        )
    };
}
macro_rules! index {
    ($table:literal, $where:literal) => {
        concat!(
            "SELECT COUNT(DISTINCT INDEX_NAME) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '",
            $table, "' AND ", $where
        )
    };
}

pub fn steps() -> Vec<Step> {
    vec![
        Step {
            name: "add_authors_and_books",
            model: s01::schema,
            expect: |c| matches!(c, Change::AddTable(t) if t.name == "books" && t.foreign_keys.len() == 1),
            up_contains: &["\"id\" INTEGER PRIMARY KEY"],
            then: "INSERT INTO authors (name) VALUES ('Ann'), ('Bob');\n\
                   INSERT INTO books (author_id, title) VALUES (1, 'First'), (2, 'Second'), (1, 'Third');",
            checks: &[],
            mysql_checks: &[(foreign_keys!(""), 1), (columns!("books", "COLUMN_NAME = 'id' AND EXTRA LIKE '%auto_increment%'"), 1)],
        },
        Step {
            name: "add_nullable_column",
            model: s02::schema,
            expect: |c| matches!(c, Change::AddColumn { column, .. } if column.name == "pages" && column.nullable),
            up_contains: &["ALTER TABLE \"books\" ADD COLUMN \"pages\" INTEGER;"],
            then: "",
            checks: &[("SELECT COUNT(*) FROM books WHERE pages IS NULL", 3), ("SELECT MAX(id) FROM books", 3)],
            mysql_checks: &[(columns!("books", "COLUMN_NAME = 'pages' AND IS_NULLABLE = 'YES'"), 1)],
        },
        Step {
            name: "add_column_with_default",
            model: s03::schema,
            expect: |c| matches!(c, Change::AddColumn { column, .. } if column.name == "isbn" && !column.nullable),
            up_contains: &["ADD COLUMN \"isbn\" TEXT NOT NULL DEFAULT ''"],
            then: "",
            checks: &[("SELECT COUNT(*) FROM books WHERE isbn = ''", 3)],
            mysql_checks: &[(columns!("books", "COLUMN_NAME = 'isbn' AND IS_NULLABLE = 'NO' AND COLUMN_DEFAULT IS NOT NULL"), 1)],
        },
        Step {
            name: "add_index",
            model: s04::schema,
            expect: |c| matches!(c, Change::AddIndex { index, .. } if index.name == "books_title_idx"),
            up_contains: &["CREATE INDEX \"books_title_idx\" ON \"books\" (\"title\");"],
            then: "",
            checks: &[],
            mysql_checks: &[(index!("books", "INDEX_NAME = 'books_title_idx'"), 1)],
        },
        Step {
            name: "tighten_to_not_null_with_default",
            model: s05::schema,
            expect: |c| matches!(c, Change::AlterColumn { from, to, .. } if from.nullable && !to.nullable),
            up_contains: &["COALESCE(\"pages\", 0)", "pragma_foreign_key_check"],
            then: "",
            checks: &[("SELECT COUNT(*) FROM books WHERE pages = 0", 3)],
            mysql_checks: &[(columns!("books", "COLUMN_NAME = 'pages' AND IS_NULLABLE = 'NO'"), 1)],
        },
        Step {
            name: "widen_varchar",
            model: s06::schema,
            expect: |c| matches!(c, Change::AlterColumn { to, .. } if to.name == "title" && !c.is_destructive()),
            up_contains: &["\"title\" VARCHAR(200) NOT NULL"],
            then: "",
            checks: &[("SELECT COUNT(*) FROM books WHERE title IN ('First', 'Second', 'Third')", 3)],
            mysql_checks: &[(columns!("books", "COLUMN_NAME = 'title' AND CHARACTER_MAXIMUM_LENGTH = 200"), 1)],
        },
        Step {
            name: "change_default",
            model: s07::schema,
            expect: |c| matches!(c, Change::AlterColumn { from, to, .. } if from.default.as_deref() == Some("''") && to.default.as_deref() == Some("'unknown'")),
            up_contains: &["DEFAULT 'unknown'"],
            then: "INSERT INTO books (author_id, title) VALUES (2, 'Fourth');",
            checks: &[],
            mysql_checks: &[(columns!("books", "COLUMN_NAME = 'isbn' AND COLUMN_DEFAULT LIKE '%unknown%'"), 1)],
        },
        Step {
            name: "add_unique",
            model: s08::schema,
            expect: |c| matches!(c, Change::AddUnique { unique, .. } if unique.columns == ["name"]),
            up_contains: &["CONSTRAINT \"authors_name_key\" UNIQUE (\"name\")"],
            then: "",
            checks: &[("SELECT COUNT(*) FROM authors", 2), ("SELECT COUNT(*) FROM books WHERE isbn = 'unknown'", 1)],
            mysql_checks: &[(index!("authors", "INDEX_NAME = 'authors_name_key' AND NON_UNIQUE = 0"), 1)],
        },
        Step {
            name: "drop_unique",
            model: s09::schema,
            expect: |c| matches!(c, Change::DropUnique { .. }),
            up_contains: &[],
            then: "INSERT INTO authors (name) VALUES ('Ann');",
            checks: &[],
            mysql_checks: &[(index!("authors", "INDEX_NAME = 'authors_name_key'"), 0)],
        },
        Step {
            name: "change_foreign_key_action",
            model: s10::schema,
            expect: |c| matches!(c, Change::AlterForeignKey { to, .. } if to.on_delete == workhub_schema::Action::Cascade),
            up_contains: &["ON DELETE CASCADE"],
            then: "",
            checks: &[("SELECT COUNT(*) FROM books", 4), ("SELECT COUNT(*) FROM authors WHERE name = 'Ann'", 2)],
            mysql_checks: &[(foreign_keys!(" AND DELETE_RULE = 'CASCADE'"), 1)],
        },
        Step {
            name: "drop_foreign_key",
            model: s11::schema,
            expect: |c| matches!(c, Change::DropForeignKey { .. }),
            up_contains: &[],
            then: "",
            checks: &[("SELECT COUNT(*) FROM pragma_foreign_key_list('books')", 0)],
            mysql_checks: &[(foreign_keys!(""), 0)],
        },
        Step {
            name: "add_foreign_key_set_null",
            model: s12::schema,
            expect: |c| matches!(c, Change::AddForeignKey { foreign_key, .. } if foreign_key.on_delete == workhub_schema::Action::SetNull),
            up_contains: &["ON DELETE SET NULL"],
            then: "",
            checks: &[("SELECT COUNT(*) FROM pragma_foreign_key_list('books') WHERE on_delete = 'SET NULL'", 1)],
            mysql_checks: &[(foreign_keys!(" AND DELETE_RULE = 'SET NULL'"), 1), (columns!("books", "COLUMN_NAME = 'author_id' AND IS_NULLABLE = 'YES'"), 1)],
        },
        Step {
            name: "drop_index",
            model: s13::schema,
            expect: |c| matches!(c, Change::DropIndex { index, .. } if index.name == "books_title_idx"),
            up_contains: &["DROP INDEX \"books_title_idx\";"],
            then: "",
            checks: &[],
            mysql_checks: &[(index!("books", "INDEX_NAME = 'books_title_idx'"), 0)],
        },
        Step {
            name: "drop_column",
            model: s14::schema,
            expect: |c| matches!(c, Change::DropColumn { column, .. } if column.name == "isbn"),
            up_contains: &["-- DESTRUCTIVE", "ALTER TABLE \"books\" DROP COLUMN \"isbn\";"],
            then: "",
            checks: &[("SELECT COUNT(*) FROM books", 4)],
            mysql_checks: &[(columns!("books", "COLUMN_NAME = 'isbn'"), 0)],
        },
        Step {
            name: "add_table_with_composite_key",
            model: s15::schema,
            expect: |c| matches!(c, Change::AddTable(t) if t.primary_key == ["book_id", "tag"]),
            up_contains: &["PRIMARY KEY (\"book_id\", \"tag\")", "CREATE UNIQUE INDEX \"book_tags_tag_book_idx\""],
            then: "INSERT INTO book_tags (book_id, tag) VALUES (1, 'novel'), (2, 'novel'), (2, 'short');",
            checks: &[],
            mysql_checks: &[(index!("book_tags", "INDEX_NAME = 'PRIMARY' AND COLUMN_NAME = 'book_id' AND SEQ_IN_INDEX = 1"), 1), (index!("book_tags", "INDEX_NAME = 'book_tags_tag_book_idx' AND NON_UNIQUE = 0"), 1)],
        },
        Step {
            name: "change_primary_key",
            model: s16::schema,
            expect: |c| matches!(c, Change::AlterPrimaryKey { to, .. } if to == &["tag", "book_id"]),
            up_contains: &["PRIMARY KEY (\"tag\", \"book_id\")"],
            then: "",
            checks: &[("SELECT COUNT(*) FROM book_tags", 3)],
            mysql_checks: &[(index!("book_tags", "INDEX_NAME = 'PRIMARY' AND COLUMN_NAME = 'tag' AND SEQ_IN_INDEX = 1"), 1)],
        },
        Step {
            name: "rename_is_only_suggested",
            model: s17::schema,
            expect: |c| matches!(c, Change::AddColumn { column, .. } if column.name == "page_count"),
            up_contains: &["POSSIBLE RENAME: column books.pages -> books.page_count", "RENAME COLUMN \"pages\" TO \"page_count\""],
            then: "",
            checks: &[("SELECT COUNT(*) FROM books", 4)],
            mysql_checks: &[(columns!("books", "COLUMN_NAME = 'page_count' AND IS_NULLABLE = 'NO'"), 1), (columns!("books", "COLUMN_NAME = 'pages'"), 0)],
        },
        Step {
            name: "drop_table_add_check",
            model: s18::schema,
            expect: |c| matches!(c, Change::DropTable(t) if t.name == "book_tags"),
            up_contains: &["-- DESTRUCTIVE", "DROP TABLE \"book_tags\";", "CHECK (page_count >= 0)"],
            then: "",
            checks: &[("SELECT COUNT(*) FROM books", 4)],
            mysql_checks: &[("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'book_tags'", 0), ("SELECT COUNT(*) FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND CONSTRAINT_NAME = 'books_pages_positive'", 1)],
        },
        Step {
            name: "narrow_varchar",
            model: s19::schema,
            expect: |c| matches!(c, Change::AlterColumn { to, .. } if to.name == "title" && c.is_destructive()),
            up_contains: &["-- DESTRUCTIVE", "\"title\" VARCHAR(150) NOT NULL"],
            then: "",
            checks: &[("SELECT COUNT(*) FROM books", 4)],
            mysql_checks: &[(columns!("books", "COLUMN_NAME = 'title' AND CHARACTER_MAXIMUM_LENGTH = 150"), 1)],
        },
    ]
}
