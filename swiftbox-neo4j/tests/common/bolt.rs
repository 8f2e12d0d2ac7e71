//! A minimal Bolt 4.4 client for what neo4rs 0.8 does not expose: the summary that ends a
//! result (its `plan` and its `notifications`). neo4rs reads the `SUCCESS` message after
//! `PULL` and keeps only `has_more`, so a deprecation warning or an `EXPLAIN` plan never
//! reaches its caller.
//!
//! Blocking (`std::net`), one statement per call, no parameters: an `EXPLAIN` plans a
//! statement without its parameter values (Neo4j answers with a `ParameterNotProvided`
//! notification, which [`Summary::deprecations`] ignores, and plans as it would with them:
//! plans are cached by statement text and parameter types, and every parameter here is read
//! through `UNWIND $rows` or a property lookup that the planner types as "any").
//!
//! How we know it works: `explain_sees_a_deprecation_and_a_locking_seek` in
//! `tests/plans.rs` runs a statement known to be deprecated in 5.26 and one known to seek
//! with a lock, and asserts both are seen.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A PackStream value (the subset Bolt summaries use).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Struct(u8, Vec<Value>),
}

impl Value {
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(m) => m.get(key),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_list(&self) -> &[Value] {
        match self {
            Value::List(l) => l,
            _ => &[],
        }
    }
}

fn put_len(out: &mut Vec<u8>, len: usize, tiny: u8, m8: u8) {
    if len < 16 {
        out.push(tiny + len as u8);
    } else if len < 0x100 {
        out.extend([m8, len as u8]);
    } else if len < 0x10000 {
        out.push(m8 + 1);
        out.extend((len as u16).to_be_bytes());
    } else {
        out.push(m8 + 2);
        out.extend((len as u32).to_be_bytes());
    }
}

fn pack(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(0xC0),
        Value::Bool(b) => out.push(if *b { 0xC3 } else { 0xC2 }),
        Value::Int(i) => {
            out.push(0xCB);
            out.extend(i.to_be_bytes());
        }
        Value::Float(f) => {
            out.push(0xC1);
            out.extend(f.to_be_bytes());
        }
        Value::String(s) => {
            put_len(out, s.len(), 0x80, 0xD0);
            out.extend(s.as_bytes());
        }
        Value::List(l) => {
            put_len(out, l.len(), 0x90, 0xD4);
            l.iter().for_each(|x| pack(x, out));
        }
        Value::Map(m) => {
            put_len(out, m.len(), 0xA0, 0xD8);
            for (k, x) in m {
                pack(&Value::String(k.clone()), out);
                pack(x, out);
            }
        }
        Value::Struct(tag, fields) => {
            out.extend([0xB0 + fields.len() as u8, *tag]);
            fields.iter().for_each(|x| pack(x, out));
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    fn u(&mut self, n: usize) -> usize {
        self.take(n)
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize)
    }
    fn value(&mut self) -> Value {
        let m = self.take(1)[0];
        match m {
            0x00..=0x7F => Value::Int(m as i64),
            0xF0..=0xFF => Value::Int(m as i8 as i64),
            0xC0 => Value::Null,
            0xC2 => Value::Bool(false),
            0xC3 => Value::Bool(true),
            0xC1 => Value::Float(f64::from_be_bytes(self.take(8).try_into().unwrap())),
            0xC8 => Value::Int(self.take(1)[0] as i8 as i64),
            0xC9 => Value::Int(i16::from_be_bytes(self.take(2).try_into().unwrap()) as i64),
            0xCA => Value::Int(i32::from_be_bytes(self.take(4).try_into().unwrap()) as i64),
            0xCB => Value::Int(i64::from_be_bytes(self.take(8).try_into().unwrap())),
            0x80..=0x8F => self.string(m as usize - 0x80),
            0xD0..=0xD2 => {
                let n = self.u(1 << (m - 0xD0));
                self.string(n)
            }
            0x90..=0x9F => self.list(m as usize - 0x90),
            0xD4..=0xD6 => {
                let n = self.u(1 << (m - 0xD4));
                self.list(n)
            }
            0xA0..=0xAF => self.map(m as usize - 0xA0),
            0xD8..=0xDA => {
                let n = self.u(1 << (m - 0xD8));
                self.map(n)
            }
            0xB0..=0xBF => {
                let tag = self.take(1)[0];
                Value::Struct(tag, (0..m - 0xB0).map(|_| self.value()).collect())
            }
            other => panic!("packstream marker {other:#x} not supported"),
        }
    }
    fn string(&mut self, n: usize) -> Value {
        Value::String(String::from_utf8(self.take(n).to_vec()).expect("utf-8"))
    }
    fn list(&mut self, n: usize) -> Value {
        Value::List((0..n).map(|_| self.value()).collect())
    }
    fn map(&mut self, n: usize) -> Value {
        Value::Map(
            (0..n)
                .map(|_| {
                    let Value::String(k) = self.value() else {
                        panic!("map key not a string")
                    };
                    (k, self.value())
                })
                .collect(),
        )
    }
}

pub fn map<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

/// One Bolt connection.
pub struct Bolt(TcpStream);

/// What a statement's summary says.
#[derive(Debug)]
pub struct Summary {
    /// The `plan` of an `EXPLAIN` (or `Null`).
    pub plan: Value,
    /// The `notifications`.
    pub notifications: Vec<Value>,
}

impl Summary {
    /// Every operator of the plan, depth first: `(operatorType, Details)`.
    pub fn operators(&self) -> Vec<(String, String)> {
        fn walk(p: &Value, out: &mut Vec<(String, String)>) {
            let ty = p.get("operatorType").and_then(Value::as_str).unwrap_or("");
            let details = p
                .get("args")
                .and_then(|a| a.get("Details"))
                .and_then(Value::as_str)
                .unwrap_or("");
            out.push((ty.to_owned(), details.to_owned()));
            for c in p.get("children").map(Value::as_list).unwrap_or(&[]) {
                walk(c, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.plan, &mut out);
        out
    }

    /// The notifications that announce a deprecation: `code: title: description`.
    pub fn deprecations(&self) -> Vec<String> {
        self.notifications
            .iter()
            .filter(|n| {
                let code = n.get("code").and_then(Value::as_str).unwrap_or("");
                let category = n.get("category").and_then(Value::as_str).unwrap_or("");
                code.contains("Deprecat") || category == "DEPRECATION"
            })
            .map(|n| {
                let f = |k| n.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                format!("{}: {}: {}", f("code"), f("title"), f("description"))
            })
            .collect()
    }
}

impl Bolt {
    /// Connects to `uri` (`bolt://host:port`) and logs in.
    pub fn connect(uri: &str, user: &str, password: &str) -> Bolt {
        let addr = uri
            .trim_start_matches("bolt://")
            .trim_start_matches("neo4j://")
            .trim_end_matches('/');
        let mut tcp = TcpStream::connect(addr).expect("bolt connect");
        tcp.set_read_timeout(Some(Duration::from_secs(60))).ok();
        // Magic, then Bolt 4.4 and three empty proposals.
        let mut hs = vec![0x60, 0x60, 0xB0, 0x17, 0, 0, 4, 4];
        hs.extend([0u8; 12]);
        tcp.write_all(&hs).expect("handshake");
        let mut v = [0u8; 4];
        tcp.read_exact(&mut v).expect("handshake reply");
        assert_eq!(v, [0, 0, 4, 4], "server refused Bolt 4.4");
        let mut bolt = Bolt(tcp);
        let hello = map([
            ("user_agent", s("swiftbox-tests/1")),
            ("scheme", s("basic")),
            ("principal", s(user)),
            ("credentials", s(password)),
        ]);
        bolt.send(0x01, vec![hello]);
        bolt.success("HELLO");
        bolt
    }

    fn send(&mut self, tag: u8, fields: Vec<Value>) {
        let mut body = Vec::new();
        pack(&Value::Struct(tag, fields), &mut body);
        let mut msg = Vec::new();
        for chunk in body.chunks(0xFFFF) {
            msg.extend((chunk.len() as u16).to_be_bytes());
            msg.extend(chunk);
        }
        msg.extend([0, 0]);
        self.0.write_all(&msg).expect("bolt write");
    }

    fn recv(&mut self) -> (u8, Vec<Value>) {
        let mut body = Vec::new();
        loop {
            let mut len = [0u8; 2];
            self.0.read_exact(&mut len).expect("bolt read");
            let len = u16::from_be_bytes(len) as usize;
            if len == 0 {
                if body.is_empty() {
                    continue; // a NOOP keep-alive
                }
                break;
            }
            let start = body.len();
            body.resize(start + len, 0);
            self.0.read_exact(&mut body[start..]).expect("bolt read");
        }
        match Reader(&body).value() {
            Value::Struct(tag, fields) => (tag, fields),
            other => panic!("bolt message not a struct: {other:?}"),
        }
    }

    /// Reads messages until a `SUCCESS` (returned) or a `FAILURE` (panics), skipping records.
    fn success(&mut self, what: &str) -> Value {
        self.records(what, &mut Vec::new())
    }

    /// Reads messages until a `SUCCESS` (returned) or a `FAILURE` (panics), keeping each
    /// record's fields in `rows`.
    fn records(&mut self, what: &str, rows: &mut Vec<Vec<Value>>) -> Value {
        loop {
            match self.recv() {
                (0x70, mut f) => return f.pop().unwrap_or(Value::Null),
                (0x71, mut f) => {
                    if let Some(Value::List(fields)) = f.pop() {
                        rows.push(fields);
                    }
                }
                (0x7F, f) => {
                    // Leave the connection usable for the next statement.
                    self.send(0x0F, vec![]);
                    let _ = self.recv();
                    panic!("{what} failed: {f:?}");
                }
                other => panic!("{what}: unexpected {other:?}"),
            }
        }
    }

    /// Runs `statement` in an auto-commit transaction and returns its summary.
    pub fn run(&mut self, statement: &str) -> Summary {
        self.run_with(statement, map([]))
    }

    /// Runs `statement` with `params` (a [`Value::Map`]) in an auto-commit transaction and
    /// returns its summary.
    pub fn run_with(&mut self, statement: &str, params: Value) -> Summary {
        let meta = self.exchange(statement, params, &mut Vec::new());
        Summary {
            plan: meta.get("plan").cloned().unwrap_or(Value::Null),
            notifications: meta
                .get("notifications")
                .map(|n| n.as_list().to_vec())
                .unwrap_or_default(),
        }
    }

    /// Runs `statement` in an auto-commit transaction and returns its records' fields.
    pub fn rows(&mut self, statement: &str) -> Vec<Vec<Value>> {
        let mut rows = Vec::new();
        self.exchange(statement, map([]), &mut rows);
        rows
    }

    /// `RUN` and `PULL` all: keeps the records' fields in `rows`, returns the summary's
    /// metadata.
    fn exchange(&mut self, statement: &str, params: Value, rows: &mut Vec<Vec<Value>>) -> Value {
        self.send(0x10, vec![s(statement), params, map([])]);
        self.success(statement);
        self.send(0x3F, vec![map([("n", Value::Int(-1))])]);
        self.records(statement, rows)
    }

    /// `EXPLAIN statement`.
    pub fn explain(&mut self, statement: &str) -> Summary {
        self.run(&format!("EXPLAIN {statement}"))
    }

    /// `EXPLAIN statement` with `params`: planned for their types (and, for lists and strings,
    /// their sizes), not run.
    pub fn explain_with(&mut self, statement: &str, params: Value) -> Summary {
        self.run_with(&format!("EXPLAIN {statement}"), params)
    }
}
