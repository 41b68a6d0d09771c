//! A TCP proxy in front of a real database server that a test can cut and restore: the service is
//! pointed at the proxy, the server itself keeps running (and keeps what was written before the
//! cut), so a test can take a dependency away from the running service and give it back.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    /// Forward both ways.
    Up,
    /// Close every connection, new ones as soon as they are accepted: the server process is down.
    Closed,
    /// Nothing goes through any more, but every connection stays open and new ones are accepted:
    /// a network partition or a hung server. Only the client's own timeouts get it out.
    Frozen,
}

pub struct FaultProxy {
    addr: SocketAddr,
    link: watch::Sender<Link>,
    /// Connections still forwarding.
    open: Arc<AtomicUsize>,
    accept: JoinHandle<()>,
}

impl FaultProxy {
    /// Listen on 127.0.0.1:0 and forward every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let addr = listener.local_addr().unwrap();
        let (link, _) = watch::channel(Link::Up);
        let open = Arc::new(AtomicUsize::new(0));
        let accept = tokio::spawn(accept_loop(listener, upstream, link.subscribe(), open.clone()));
        Self { addr, link, open, accept }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server goes away: returns once every forwarded connection is closed.
    pub async fn cut(&self) {
        self.set(Link::Closed).await;
    }

    /// The server stops answering: returns once no connection forwards any more.
    pub async fn freeze(&self) {
        self.set(Link::Frozen).await;
    }

    /// Forward again (connections held by [`FaultProxy::freeze`] are closed).
    pub fn restore(&self) {
        self.link.send_replace(Link::Up);
    }

    async fn set(&self, link: Link) {
        self.link.send_replace(link);
        for _ in 0..500 {
            if self.open.load(Ordering::SeqCst) == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the proxy's connections did not stop forwarding within 5 s");
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        // Forwarders and held connections end when the sender goes away.
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, link: watch::Receiver<Link>, open: Arc<AtomicUsize>) {
    loop {
        let Ok((client, _)) = listener.accept().await else { continue };
        let now = *link.borrow();
        match now {
            Link::Up => {
                // Counted before the task runs, so that `set` cannot miss it.
                open.fetch_add(1, Ordering::SeqCst);
                let guard = OpenGuard(open.clone());
                tokio::spawn(forward(client, upstream, link.clone(), guard));
            }
            Link::Closed => drop(client),
            Link::Frozen => {
                tokio::spawn(hold_while_frozen(vec![client], link.clone()));
            }
        }
    }
}

struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn forward(mut client: TcpStream, upstream: SocketAddr, mut link: watch::Receiver<Link>, open: OpenGuard) {
    let Ok(mut server) = TcpStream::connect(upstream).await else { return };
    // Biased: once the link is down, not one more byte goes through, even if both are ready.
    tokio::select! {
        biased;
        _ = link.wait_for(|l| *l != Link::Up) => {}
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
    }
    drop(open);
    hold_while_frozen(vec![client, server], link).await;
}

/// Keep `sockets` open, unanswered, while the link is frozen; close them after.
async fn hold_while_frozen(sockets: Vec<TcpStream>, mut link: watch::Receiver<Link>) {
    if *link.borrow() == Link::Frozen {
        let _ = link.wait_for(|l| *l != Link::Frozen).await;
    }
    drop(sockets);
}
