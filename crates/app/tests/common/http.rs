//! A `workhub serve` process on an ephemeral port with its own SQLite database (or a database URL
//! given, such as a new MySQL database from [`on_mysql`]), and a minimal
//! HTTP/1.1 client (hand-written over `TcpStream`, one connection per request) for the API tests.

// Each test uses its own subset of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

/// Variables the service reads; a test server starts without any of them inherited.
const VARIABLES: [&str; 11] = [
    "DATABASE_URL",
    "WORKHUB_ENV",
    "WORKHUB_ADDR",
    "WORKHUB_MIGRATIONS_DIR",
    "WORKHUB_LOCK_TIMEOUT",
    "WORKHUB_EMBED_MIGRATIONS_DIR",
    "WORKHUB_SESSION_TTL_HOURS",
    "WORKHUB_BODY_LIMIT_BYTES",
    "WORKHUB_DB_POOL_SIZE",
    "RUST_LOG",
    "WORKHUB_LOG",
];

/// A running `workhub serve`; killed when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub addr: String,
    dir: TempDir,
    log: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts the service with extra environment variables, waiting until it listens.
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let mut command = Command::new(env!("CARGO_BIN_EXE_workhub"));
        for variable in VARIABLES {
            command.env_remove(variable);
        }
        command
            .current_dir(dir.path())
            .env("DATABASE_URL", dir.path().join("workhub.db"))
            .env("WORKHUB_ADDR", "127.0.0.1:0")
            .env("WORKHUB_ENV", "development")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start workhub serve");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr_log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let (sink, errors) = (log.clone(), stderr_log.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                for log in [&sink, &errors] {
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut seen = String::new();
        let addr = loop {
            let mut line = String::new();
            let read = stdout.read_line(&mut line).expect("read workhub's output");
            if read == 0 {
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "workhub exited before listening:\n{seen}\n{}",
                    log.lock().unwrap()
                );
            }
            seen.push_str(&line);
            // Text or a JSON line (WORKHUB_LOG=json): the address follows the same words.
            if let Some((_, rest)) = line.split_once("workhub listening on http://") {
                break rest
                    .split(|c: char| c.is_whitespace() || c == '"')
                    .next()
                    .expect("an address")
                    .to_string();
            }
        };
        // The service's log goes on on stdout: kept with stderr's, and drained so the service
        // never blocks on a full pipe.
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Self {
            child,
            addr,
            dir,
            log,
            stderr: stderr_log,
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("workhub.db")
    }

    /// Everything the service logged so far, after the line saying where it listens (stdout and
    /// stderr).
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// What the service wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The log once it holds `needle`, waiting up to 5 s for the service to write it.
    pub fn log_with(&self, needle: &str) -> String {
        for _ in 0..100 {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("`{needle}` never reached the log:\n{}", self.log());
    }

    /// Sends raw bytes and reads the response (the connection is closed by the request's
    /// `Connection: close`).
    pub fn raw(&self, request: &[u8]) -> Response {
        let mut stream = TcpStream::connect(&self.addr).expect("connect to workhub");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream.write_all(request).expect("send the request");
        let mut bytes = Vec::new();
        if let Err(err) = stream.read_to_end(&mut bytes) {
            // A server may answer before reading a whole oversized body and then reset; what
            // arrived before the reset is the answer.
            assert!(!bytes.is_empty(), "no response: {err}");
        }
        Response::parse(&bytes)
    }

    /// A request with optional bearer token and JSON body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Response {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        let body = body.unwrap_or("");
        if !body.is_empty() || matches!(method, "POST" | "PATCH" | "PUT") {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body.as_bytes());
        self.raw(&request)
    }

    pub fn get(&self, path: &str, token: &str) -> Response {
        self.call("GET", path, Some(token), None)
    }

    pub fn post(&self, path: &str, token: &str, body: &Value) -> Response {
        self.call("POST", path, Some(token), Some(&body.to_string()))
    }

    pub fn patch(&self, path: &str, token: &str, body: &Value) -> Response {
        self.call("PATCH", path, Some(token), Some(&body.to_string()))
    }

    pub fn delete(&self, path: &str, token: &str) -> Response {
        self.call("DELETE", path, Some(token), None)
    }

    /// Registers an account (password `password-123`) and returns its id.
    pub fn register(&self, email: &str, name: &str) -> i64 {
        let body =
            serde_json::json!({"email": email, "password": "password-123", "display_name": name});
        let response = self.call("POST", "/auth/register", None, Some(&body.to_string()));
        assert_eq!(response.status, 201, "{response:?}");
        response.json()["id"].as_i64().expect("an id")
    }

    pub fn login(&self, email: &str) -> String {
        let body = serde_json::json!({"email": email, "password": "password-123"});
        let response = self.call("POST", "/auth/login", None, Some(&body.to_string()));
        assert_eq!(response.status, 200, "{response:?}");
        response.json()["token"]
            .as_str()
            .expect("a token")
            .to_string()
    }

    /// Makes the account of `email` (signed in as `member_token`) a member of project `pid`, the
    /// way the API allows: its owner invites the address, the account accepts.
    pub fn join(&self, pid: i64, owner_token: &str, email: &str, member_token: &str) {
        let invited = self.post(
            &format!("/projects/{pid}/invitations"),
            owner_token,
            &serde_json::json!({ "email": email }),
        );
        assert_eq!(invited.status, 201, "{invited:?}");
        let id = invited.json()["id"].as_i64().expect("an invitation id");
        let accepted = self.call(
            "POST",
            &format!("/invitations/{id}/accept"),
            Some(member_token),
            None,
        );
        assert_eq!(accepted.status, 200, "{accepted:?}");
    }

    /// Registers and logs in: `(user id, token)`.
    pub fn user(&self, email: &str, name: &str) -> (i64, String) {
        let id = self.register(email, name);
        (id, self.login(email))
    }
}

/// The service on a new database of the MySQL or MariaDB server the tests use (development mode
/// migrates it with the `up.mysql.sql` scripts before listening), dropped with the returned value;
/// `None`, after a skip notice, when no server answers outside CI.
#[cfg(feature = "mysql")]
pub fn on_mysql(test: &str) -> Option<(workhub_migrations::apply::TemporaryMysqlDatabase, Server)> {
    let mysql = workhub_migrations::testing::mysql_server(test)?;
    let database = workhub_migrations::apply::TemporaryMysqlDatabase::create(&mysql, "api")
        .expect("a test database");
    let server = Server::start_with(&[("DATABASE_URL", &mysql_url(&database))]);
    Some((database, server))
}

/// The URL of a MySQL test database.
#[cfg(feature = "mysql")]
pub fn mysql_url(database: &workhub_migrations::apply::TemporaryMysqlDatabase) -> String {
    match database.url() {
        workhub_migrations::DatabaseUrl::Mysql(raw) => raw.clone(),
        _ => unreachable!("a MySQL server's database has a MySQL URL"),
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    fn parse(bytes: &[u8]) -> Self {
        let split = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| {
                panic!("an incomplete response: {}", String::from_utf8_lossy(bytes))
            });
        let head = String::from_utf8_lossy(&bytes[..split]).to_string();
        let mut body = bytes[split + 4..].to_vec();
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|code| code.parse().ok())
            .expect("a status line");
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
            .collect();
        let chunked = headers
            .iter()
            .any(|(name, value)| name == "transfer-encoding" && value.contains("chunked"));
        if chunked {
            body = dechunk(&body);
        }
        Self {
            status,
            headers,
            body: String::from_utf8_lossy(&body).to_string(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {} {}", self.status, self.body))
    }

    /// Asserts the API's error shape and status; returns the error's code.
    pub fn error(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{self:?}");
        let json = self.json();
        let error = &json["error"];
        assert!(error["message"].is_string(), "{json}");
        error["code"].as_str().expect("an error code").to_string()
    }
}

fn dechunk(mut bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = bytes.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&bytes[..end])
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = end + 2;
        out.extend_from_slice(&bytes[start..(start + size).min(bytes.len())]);
        bytes = &bytes[(start + size + 2).min(bytes.len())..];
    }
}
