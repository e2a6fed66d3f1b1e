//! A small in-process SMTP server (RFC 5321) that records every message it accepts, and can be
//! told to be down (a 421 greeting, as a server shutting down says) or to refuse recipients
//! permanently (550). Messages are decoded just enough to read their parts (MIME multipart,
//! 7bit / quoted-printable / base64), so a test sees what a mail client would show.

#![allow(dead_code, clippy::disallowed_methods)]

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Up,
    /// Greets with 421 and closes (transient: RFC 5321 §3.8).
    Down,
    /// Refuses every recipient with 550 (permanent).
    Reject,
}

#[derive(Clone)]
pub struct SmtpServer {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    mode: Arc<Mutex<Mode>>,
    /// Connections seen (each delivery attempt opens one).
    connections: Arc<Mutex<u32>>,
}

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: String,
}

impl SmtpServer {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let s = SmtpServer {
            port,
            received: Arc::default(),
            mode: Arc::new(Mutex::new(Mode::Up)),
            connections: Arc::default(),
        };
        let server = s.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let server = server.clone();
                tokio::spawn(async move {
                    let _ = server.session(sock).await;
                });
            }
        });
        s
    }

    /// The `LANYARD_SMTP_URL` for this server: plain `smtp://`, so Lanyard asks for STARTTLS
    /// when offered, and this server does not offer it.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn set_mode(&self, m: Mode) {
        *self.mode.lock().expect("lock") = m;
    }

    pub fn connections(&self) -> u32 {
        *self.connections.lock().expect("lock")
    }

    pub fn messages(&self) -> Vec<Mail> {
        self.received
            .lock()
            .expect("lock")
            .iter()
            .map(|r| Mail::parse(r.clone()))
            .collect()
    }

    /// Wait (bounded, real time) until `n` messages arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Mail> {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let m = self.messages();
            if m.len() >= n {
                return m;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "SMTP server received {} of {n} messages",
                m.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn session(&self, sock: tokio::net::TcpStream) -> std::io::Result<()> {
        *self.connections.lock().expect("lock") += 1;
        let (r, mut w) = sock.into_split();
        let mut r = BufReader::new(r);
        let mode = *self.mode.lock().expect("lock");
        if mode == Mode::Down {
            w.write_all(b"421 4.3.2 test server down\r\n").await?;
            return Ok(());
        }
        w.write_all(b"220 smtp.test ESMTP\r\n").await?;
        let mut from = String::new();
        let mut rcpt = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let cmd = line.trim_end().to_string();
            let upper = cmd.to_ascii_uppercase();
            if upper.starts_with("EHLO") {
                w.write_all(b"250-smtp.test\r\n250 8BITMIME\r\n").await?;
            } else if upper.starts_with("HELO") {
                w.write_all(b"250 smtp.test\r\n").await?;
            } else if upper.starts_with("MAIL FROM:") {
                from = addr(&cmd[10..]);
                rcpt.clear();
                w.write_all(b"250 2.1.0 ok\r\n").await?;
            } else if upper.starts_with("RCPT TO:") {
                if mode == Mode::Reject {
                    w.write_all(b"550 5.1.1 no such mailbox\r\n").await?;
                } else {
                    rcpt.push(addr(&cmd[8..]));
                    w.write_all(b"250 2.1.5 ok\r\n").await?;
                }
            } else if upper == "DATA" {
                w.write_all(b"354 go ahead\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    // RFC 5321 §4.5.2: a leading dot was doubled.
                    let l = line.strip_prefix('.').unwrap_or(&line);
                    data.push_str(l);
                }
                self.received.lock().expect("lock").push(Received {
                    mail_from: from.clone(),
                    rcpt_to: rcpt.clone(),
                    data,
                });
                w.write_all(b"250 2.0.0 queued\r\n").await?;
            } else if upper == "QUIT" {
                w.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            } else {
                w.write_all(b"250 ok\r\n").await?;
            }
        }
    }
}

fn addr(s: &str) -> String {
    let s = s.trim();
    let s = s.split_whitespace().next().unwrap_or("");
    s.trim_start_matches('<').trim_end_matches('>').to_string()
}

/// A received message, decoded.
#[derive(Debug, Clone)]
pub struct Mail {
    pub raw: Received,
    pub headers: Vec<(String, String)>,
    /// (content type, decoded body) of every leaf part.
    pub parts: Vec<(String, String)>,
}

impl Mail {
    fn parse(raw: Received) -> Self {
        let (headers, body) = split_headers(&raw.data);
        let mut parts = Vec::new();
        leaf_parts(&headers, &body, &mut parts);
        Mail {
            raw,
            headers,
            parts,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    pub fn to(&self) -> String {
        self.raw.rcpt_to.join(",")
    }

    pub fn subject(&self) -> String {
        self.header("subject").unwrap_or("").to_string()
    }

    pub fn part(&self, ctype: &str) -> String {
        self.parts
            .iter()
            .find(|(t, _)| t.starts_with(ctype))
            .map(|(_, b)| b.clone())
            .unwrap_or_else(|| panic!("no {ctype} part in {:?}", self.parts))
    }

    pub fn text(&self) -> String {
        self.part("text/plain")
    }

    pub fn html(&self) -> String {
        self.part("text/html")
    }

    /// The "this wasn't me" link in the plain-text part.
    pub fn link(&self) -> String {
        let text = self.text();
        let start = text.find("http").expect("a link in the text part");
        text[start..]
            .split_whitespace()
            .next()
            .expect("link")
            .to_string()
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn split_headers(s: &str) -> (Vec<(String, String)>, String) {
    let s = s.replace("\r\n", "\n");
    let (head, body) = s.split_once("\n\n").unwrap_or((&s, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    (headers, body.to_string())
}

fn leaf_parts(headers: &[(String, String)], body: &str, out: &mut Vec<(String, String)>) {
    let ctype = header(headers, "content-type")
        .unwrap_or("text/plain")
        .to_string();
    if ctype.to_ascii_lowercase().starts_with("multipart/") {
        let boundary = ctype
            .split(';')
            .find_map(|p| p.trim().strip_prefix("boundary="))
            .map(|b| b.trim_matches('"').to_string())
            .expect("boundary");
        let marker = format!("--{boundary}");
        for chunk in body.split(&marker).skip(1) {
            if chunk.starts_with("--") {
                break;
            }
            let (h, b) = split_headers(chunk.trim_start_matches('\n'));
            leaf_parts(&h, &b, out);
        }
        return;
    }
    let cte = header(headers, "content-transfer-encoding")
        .unwrap_or("7bit")
        .to_ascii_lowercase();
    let decoded = match cte.as_str() {
        "quoted-printable" => quoted_printable(body),
        "base64" => {
            use base64::Engine;
            let compact: String = body.split_whitespace().collect();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .expect("base64 part"),
            )
            .expect("utf-8 part")
        }
        _ => body.to_string(),
    };
    out.push((ctype.to_ascii_lowercase(), decoded));
}

fn quoted_printable(s: &str) -> String {
    let s = s.replace("=\n", "");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}
