//! Loopback ports for servers a test starts in another process (or binds later), known before
//! they run.
//!
//! Binding port 0 and releasing it is racy: the number comes from the kernel's ephemeral range,
//! which every outgoing connection on the machine draws its local port from too, so a pool
//! connecting to PostgreSQL can take it before the child binds it. A [`Port`] is drawn from
//! below that range instead, where nothing is handed out on its own, checked free, and held
//! against the other test processes by an advisory lock on a file of its own for as long as the
//! [`Port`] lives (the kernel drops the lock when the process dies, so nothing goes stale).

use std::fs::{File, OpenOptions, TryLockError};
use std::hash::{BuildHasher as _, RandomState};
use std::io;
use std::net::TcpListener;
use std::path::PathBuf;

/// A loopback port reserved for this process until dropped.
#[derive(Debug)]
pub struct Port {
    number: u16,
    _lock: File,
}

impl Port {
    pub fn number(&self) -> u16 {
        self.number
    }

    /// `127.0.0.1:<port>`, as a listen setting takes it.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.number)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }
}

/// The ports tried: the 12,000 below the kernel's ephemeral range (32768 by default).
fn candidates() -> std::ops::Range<u16> {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let end = ephemeral_low.max(11_024);
    end - 10_000..end
}

fn lock_dir() -> io::Result<PathBuf> {
    let dir = std::env::temp_dir().join("contactsync-test-ports");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Reserves a free loopback port that no other test process holds.
pub fn reserve() -> io::Result<Port> {
    let range = candidates();
    let span = u64::from(range.end - range.start);
    let dir = lock_dir()?;
    let start = RandomState::new().hash_one(std::process::id()) % span;
    // Stepping by a prime not dividing the span visits every candidate once.
    for attempt in 0..span {
        let offset = (start + attempt * 7919) % span;
        let number = range.start + u16::try_from(offset).expect("offset below the span");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{number}.lock")))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => continue,
            Err(TryLockError::Error(error)) => return Err(error),
        }
        if TcpListener::bind(("127.0.0.1", number)).is_ok() {
            return Ok(Port {
                number,
                _lock: lock,
            });
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrNotAvailable,
        format!("no free loopback port in {range:?}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_ports_are_outside_the_ephemeral_range_and_distinct_while_held() {
        let held: Vec<Port> = (0..20).map(|_| reserve().expect("a port")).collect();
        let numbers: std::collections::BTreeSet<u16> = held.iter().map(Port::number).collect();
        assert_eq!(
            numbers.len(),
            held.len(),
            "a held port was handed out twice"
        );
        let range = candidates();
        assert!(
            numbers.iter().all(|n| range.contains(n)),
            "{numbers:?} not in {range:?}"
        );
        // Each can be bound by whoever the test gives it to.
        for port in &held {
            TcpListener::bind(port.addr()).expect("the reserved port binds");
        }
    }

    #[test]
    fn a_port_bound_by_someone_else_is_not_handed_out() {
        let port = reserve().expect("a port");
        let taken = TcpListener::bind(port.addr()).expect("bind");
        let number = port.number();
        // Let the lock go but keep the socket: the next reservations must skip it.
        drop(port);
        for _ in 0..50 {
            let other = reserve().expect("a port");
            assert_ne!(other.number(), number);
        }
        drop(taken);
    }
}
