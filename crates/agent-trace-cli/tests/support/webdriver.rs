//! A tiny W3C WebDriver client over `std::net` (HTTP/1.0, JSON bodies),
//! enough to drive headless Chromium through `chromedriver`: no browser
//! automation crate, no async runtime.
//!
//! Only the commands the report test needs: new session, navigate, find
//! element, click, execute script, screenshot, delete session.

#![allow(dead_code, unreachable_pub, reason = "a test helper")]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The key of an element reference in WebDriver JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long chromedriver may take to come up.
const STARTUP: Duration = Duration::from_secs(30);

/// A `chromedriver` process on a loopback port, killed when dropped.
pub struct Driver {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    /// Starts `chromedriver` on a free loopback port and waits (polling
    /// `/status`, up to [`STARTUP`]) until it says it is ready.
    pub fn start(chromedriver: &Path) -> Result<Self, String> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", chromedriver.display()))?;
        let driver = Self {
            child,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        };
        let started = Instant::now();
        loop {
            if let Ok(status) = driver.call("GET", "/status", None)
                && status["value"]["ready"] == true
            {
                return Ok(driver);
            }
            if started.elapsed() > STARTUP {
                return Err(format!(
                    "chromedriver not ready on {} after {STARTUP:?}",
                    driver.addr
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One WebDriver command; the response's JSON.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))
            .map_err(|e| format!("connect {}: {e}", self.addr))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .map_err(|e| e.to_string())?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .map_err(|e| format!("{method} {path}: {e}"))?;
        let (head, body) =
            read_response(&mut stream).map_err(|e| format!("{method} {path}: {e}"))?;
        let json: Value =
            serde_json::from_str(&body).map_err(|e| format!("{method} {path}: {e}: {body}"))?;
        if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
            return Err(format!(
                "{method} {path}: {}: {}",
                head.lines().next().unwrap_or_default(),
                json["value"]["message"]
            ));
        }
        Ok(json)
    }

    /// A headless Chromium session with a window of `width` x `height`.
    pub fn session(&self, chromium: &Path, width: u32, height: u32) -> Result<Session<'_>, String> {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.to_string_lossy(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--hide-scrollbars", "--force-device-scale-factor=1",
                    format!("--window-size={width},{height}")
                ]
            }
        }}});
        let created = self.call("POST", "/session", Some(&caps))?;
        let id = created["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session id in {created}"))?
            .to_owned();
        Ok(Session { driver: self, id })
    }
}

/// A browser session, deleted (browser closed) when dropped.
pub struct Session<'d> {
    driver: &'d Driver,
    id: String,
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = self
            .driver
            .call("DELETE", &format!("/session/{}", self.id), None);
    }
}

impl Session<'_> {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let json = self.driver.call(
            method,
            &format!("/session/{}{path}", self.id),
            body.as_ref(),
        )?;
        Ok(json["value"].clone())
    }

    /// Opens `url` and returns when the page has loaded.
    pub fn goto(&self, url: &str) -> Result<(), String> {
        self.call("POST", "/url", Some(json!({ "url": url })))
            .map(drop)
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and
    /// returns its result.
    pub fn execute(&self, script: &str, args: Value) -> Result<Value, String> {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// The element `css` selects (the first).
    pub fn find(&self, css: &str) -> Result<String, String> {
        let found = self.call(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        )?;
        found[ELEMENT]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no element {css}: {found}"))
    }

    /// A real click on the element `css` selects (scrolled into view).
    pub fn click(&self, css: &str) -> Result<(), String> {
        let element = self.find(css)?;
        self.call(
            "POST",
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .map(drop)
    }

    /// A PNG of the viewport.
    pub fn screenshot(&self) -> Result<Vec<u8>, String> {
        let b64 = self.call("GET", "/screenshot", None)?;
        base64(b64.as_str().ok_or("screenshot is not a string")?)
            .ok_or_else(|| "screenshot is not base64".to_owned())
    }
}

/// An HTTP/1.1 response: the head, and the body of `Content-Length`
/// bytes (chromedriver keeps connections open, so reading to the end
/// would wait for its timeout).
fn read_response(stream: &mut TcpStream) -> Result<(String, String), String> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before the response head".into());
        }
        bytes.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .ok_or_else(|| format!("no Content-Length in {head:?}"))?;
    let mut body = bytes[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed inside the body".into());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Ok((head, String::from_utf8_lossy(&body).into_owned()))
}

/// Standard base64, padded or not.
fn base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'\n' | b'\r' => continue,
            _ => return None,
        };
        acc = acc << 6 | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}
