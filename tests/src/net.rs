//! Network fixtures that no other test can interfere with.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Binds a loopback port and accepts on it until the test process ends (a detached thread, so the
/// port stays held until then), counting connections; each is closed at once, or with `hold`
/// kept open and never answered.
fn accept_forever(hold: bool) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("local address").port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            counter.fetch_add(1, Ordering::SeqCst);
            if hold {
                held.push(stream);
            }
        }
    });
    (port, connections)
}

/// A loopback port that accepts every connection and closes it before answering a byte: an
/// endpoint that is unreachable in a way no other test can change, because this one holds the
/// port for as long as the process runs. (A port freed by stopping a server is not that: tests
/// run in parallel and another one's server may bind it.) Counts the connections it closed, so
/// a test can tell how many attempts reached it.
pub struct ClosingEndpoint {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl ClosingEndpoint {
    pub fn start() -> Self {
        let (port, connections) = accept_forever(false);
        Self { port, connections }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Connections accepted (and closed) so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// A loopback port that accepts every connection and never answers or closes it: a server
/// behind a firewall that drops packets, as a client sees it once the handshake is done. Holds
/// the accepted connections (and the port) for as long as the test process runs.
pub struct SilentEndpoint {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl SilentEndpoint {
    pub fn start() -> Self {
        let (port, connections) = accept_forever(true);
        Self { port, connections }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connections accepted (and left hanging) so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}
