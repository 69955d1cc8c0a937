//! The chat's event loop, shared by `encap server` and `encap client`.
//!
//! One thread, one `poll()`: standard input, the listening socket (server) and every connection.
//! Connections are non-blocking; what the kernel cannot take yet waits in a per-connection queue
//! until `poll()` reports room (so both directions flow at once and neither side can deadlock the
//! other), and standard input is not read while a queue is long (so memory stays bounded). A
//! server's client whose queue is full while another's is not has stopped reading, or reads too
//! slowly for the rest: once there is more to send, it is dropped, and the server says so, so
//! that it does not hold up the others (with one client, or all of them full, the server waits).
//!
//! Ending a dialogue is TCP's orderly close: send what is queued, `shutdown(SHUT_WR)` (FIN), wait
//! for the peer's FIN (at most [`LINGER`]), then `close()`.

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::Context;
use termcolor::WriteColor;

use encap::layers::payload::escape_bytes;
use encap::render;

use super::framing::{Ending, LineFramer, Message, IDLE};
use super::model::{segment_count, ConnModel};
use super::narrate::Closing;
use super::sys::{self, SysError, Trace};
use super::verify::{self, Verifier};
use super::View;

/// How long to wait for the peer's FIN after sending ours before closing anyway.
pub const LINGER: Duration = Duration::from_secs(2);

/// Standard input is not read while any connection has more than this much waiting to be sent;
/// a server drops a client that has this much waiting while another client has room.
pub const QUEUE_LIMIT: usize = 1 << 20;

/// Size of one `recv()`.
const RECV_SIZE: usize = 64 * 1024;

/// What the user asked to see.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// How each outgoing message is shown.
    pub view: View,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Chatting.
    Open,
    /// Ending: send what is queued, then FIN.
    Closing,
    /// Our FIN is sent; waiting for the peer's.
    HalfClosed { since: Instant },
}

/// One connection and everything known about it.
struct Conn {
    fd: OwnedFd,
    model: ConnModel,
    mss: usize,
    framer: LineFramer,
    /// Bytes waiting for room in the kernel's send buffer: `queue[sent..]`.
    queue: Vec<u8>,
    sent: usize,
    last_rx: Instant,
    state: State,
    /// Set once the connection is finished; the loop closes and removes it.
    done: bool,
}

impl Conn {
    fn name(&self) -> String {
        self.model.peer.to_string()
    }

    fn queued(&self) -> usize {
        self.queue.len() - self.sent
    }
}

/// How a client's dialogue ended.
#[derive(Debug)]
pub enum Outcome {
    /// Cleanly (exit, end of input, SIGINT or SIGTERM, or the peer closed).
    Clean,
    /// The connection failed (reset, broken pipe).
    Failed(SysError),
    /// Cleanly, but `--verify` found this many fields that are a MISMATCH.
    Mismatch(usize),
}

/// The chat session.
pub struct Session<'w, W: WriteColor> {
    out: &'w mut W,
    trace: Trace,
    opts: Options,
    listener: Option<OwnedFd>,
    conns: Vec<Conn>,
    is_server: bool,
    stdin_open: bool,
    stdin_framer: LineFramer,
    exiting: bool,
    failure: Option<SysError>,
    buf: Vec<u8>,
    verify: Option<Verifier>,
    /// The signal mask `poll()` waits with (see [`Session::stop_on_signals`]).
    poll_mask: Option<libc::sigset_t>,
}

impl<'w, W: WriteColor> Session<'w, W> {
    /// A session writing to `out`, narrating into `trace`.
    pub fn new(out: &'w mut W, trace: Trace, opts: Options) -> Self {
        Session {
            out,
            trace,
            opts,
            listener: None,
            conns: Vec::new(),
            is_server: false,
            stdin_open: true,
            stdin_framer: LineFramer::default(),
            exiting: false,
            failure: None,
            buf: vec![0; RECV_SIZE],
            verify: None,
            poll_mask: None,
        }
    }

    /// Makes SIGINT (Ctrl-C) and SIGTERM end the chat as `exit` does (a FIN to each peer, each
    /// connection's closing line), with or without `--verify`; a second one quits at once
    /// (one-shot handlers). Call it before the socket is set up, so no signal finds the
    /// default action in place once the user sees the banner, and before `--verify` starts its
    /// capture thread, so that thread never takes the signal in the main loop's place.
    ///
    /// # Errors
    /// A failed `sigaction` or `pthread_sigmask`.
    pub fn stop_on_signals(&mut self) -> std::io::Result<()> {
        self.poll_mask = Some(sys::block_stop_signals().map_err(std::io::Error::other)?);
        crate::capture::stop_on_signals()
    }

    /// The trace, for the setup calls made before the loop.
    pub fn trace(&mut self) -> &mut Trace {
        &mut self.trace
    }

    /// Writes out the narration of the calls made so far.
    ///
    /// # Errors
    /// An I/O error from the writer.
    pub fn narrate(&mut self) -> std::io::Result<()> {
        for (line, why) in self.trace.take() {
            writeln!(self.out, "» {line}")?;
            writeln!(self.out, "    {why}")?;
        }
        Ok(())
    }

    /// `--verify`: starts capturing the connections to or from `addr` on `lo` (call it before the
    /// socket is connected or listening, so the handshake is captured), or says why it cannot.
    /// `command`: `server` or `client`.
    ///
    /// # Errors
    /// An I/O error from the writer.
    pub fn start_verify(
        &mut self,
        addr: std::net::SocketAddrV4,
        command: &str,
    ) -> std::io::Result<()> {
        let full = self.opts.view == View::Full;
        self.verify = Verifier::start(self.out, addr, full, command)?;
        Ok(())
    }

    /// With `--verify`: checks the frames captured so far, waiting until `quiet` passes without one.
    fn verify_sync(&mut self, quiet: Duration) -> std::io::Result<()> {
        match &mut self.verify {
            Some(v) => v.sync(self.out, quiet),
            None => Ok(()),
        }
    }

    /// Writes one line of chat text.
    ///
    /// # Errors
    /// An I/O error from the writer.
    pub fn say(&mut self, text: &str) -> std::io::Result<()> {
        writeln!(self.out, "{text}")
    }

    /// Serves on `listener` (already listening) until `exit`, SIGINT or SIGTERM (end of input
    /// only ends the typing).
    ///
    /// # Errors
    /// An I/O error from the writer, or a failing `poll()`.
    pub fn serve(mut self, listener: OwnedFd) -> anyhow::Result<usize> {
        self.is_server = true;
        self.listener = Some(listener);
        self.run()?;
        Ok(self.mismatches())
    }

    /// MISMATCH fields `--verify` found so far (0 without `--verify`).
    fn mismatches(&self) -> usize {
        self.verify.as_ref().map_or(0, Verifier::mismatches)
    }

    /// Chats over one connected socket until either side ends it.
    ///
    /// # Errors
    /// An I/O error from the writer, or a failing `poll()`.
    pub fn chat(mut self, fd: OwnedFd) -> anyhow::Result<Outcome> {
        self.add_conn(fd, None)?;
        if self.conns.is_empty() {
            return Ok(Outcome::Failed(self.failure.take().unwrap_or(SysError {
                call: "connect",
                errno: libc::ENOTCONN,
            })));
        }
        self.run()?;
        Ok(match self.failure.take() {
            Some(e) => Outcome::Failed(e),
            None if self.mismatches() > 0 => Outcome::Mismatch(self.mismatches()),
            None => Outcome::Clean,
        })
    }

    /// Sets up a connected socket: its addresses, TCP_NODELAY, its MSS, non-blocking.
    fn add_conn(
        &mut self,
        fd: OwnedFd,
        peer: Option<std::net::SocketAddrV4>,
    ) -> anyhow::Result<()> {
        let setup =
            (|| -> Result<(std::net::SocketAddrV4, std::net::SocketAddrV4, usize), SysError> {
                let local = sys::name(&mut self.trace, &fd, sys::End::Local)?;
                let peer = match peer {
                    Some(p) => p,
                    None => sys::name(&mut self.trace, &fd, sys::End::Peer)?,
                };
                sys::set_nodelay(&mut self.trace, &fd)?;
                let mss = sys::tcp_maxseg(&mut self.trace, &fd)?;
                sys::set_nonblocking(&fd)?;
                Ok((local, peer, mss))
            })();
        self.narrate()?;
        match setup {
            Ok((local, peer, mss)) => {
                let what = if self.is_server {
                    format!("{peer} connected to {local}")
                } else {
                    format!("connected to {peer} from {local}")
                };
                self.say(&format!(
                    "{what}; TCP_NODELAY is on, so each message leaves as its own segment (TCP_MAXSEG: at most {mss} bytes each for now: the MSS the peer announced less options, capped at half its window)"
                ))?;
                self.conns.push(Conn {
                    fd,
                    model: ConnModel::new(local, peer),
                    mss,
                    framer: LineFramer::default(),
                    queue: Vec::new(),
                    sent: 0,
                    last_rx: Instant::now(),
                    state: State::Open,
                    done: false,
                });
                if let Some(v) = &mut self.verify {
                    v.add(local, peer, self.is_server);
                }
                self.verify_sync(verify::QUIET)?;
            }
            Err(e) => {
                self.say(&format!("a new connection failed during setup: {e}"))?;
                sys::close(&mut self.trace, fd, Closing::Connection);
                self.narrate()?;
                self.failure = Some(e);
            }
        }
        Ok(())
    }

    fn run(&mut self) -> anyhow::Result<()> {
        if self.is_server {
            self.say(
                "type a line to send it to every client; `exit`, Ctrl-C or SIGTERM ends the server (end of input only ends the typing)",
            )?;
        } else {
            self.say(
                "type a line to send it; `exit`, end of input, Ctrl-C or SIGTERM ends the dialogue",
            )?;
        }
        self.out.flush()?;
        loop {
            if self.conns.is_empty() && (self.exiting || !self.is_server) {
                break;
            }
            let mut fds: Vec<libc::pollfd> = Vec::with_capacity(self.conns.len() + 2);
            let full = self
                .conns
                .iter()
                .filter(|c| c.queued() >= QUEUE_LIMIT)
                .count();
            // A server also waits for input when some clients are full and others are not:
            // when it comes, the full ones are dropped rather than hold up the rest.
            let read_stdin = self.stdin_open
                && !self.exiting
                && (full == 0 || (self.is_server && full < self.conns.len()));
            if read_stdin {
                fds.push(pollfd(libc::STDIN_FILENO, libc::POLLIN));
            }
            let listener_slot = match &self.listener {
                Some(l) => {
                    fds.push(pollfd(l.as_raw_fd(), libc::POLLIN));
                    Some(fds.len() - 1)
                }
                None => None,
            };
            let first_conn = fds.len();
            for c in &self.conns {
                let mut ev = libc::POLLIN;
                if c.queued() > 0 {
                    ev |= libc::POLLOUT;
                }
                fds.push(pollfd(c.fd.as_raw_fd(), ev));
            }
            let timeout = self.next_timeout();
            sys::poll(&mut fds, timeout, self.poll_mask.as_ref())
                .context("waiting for input with poll()")?;

            if read_stdin && fds[0].revents != 0 {
                self.read_stdin()?;
            }
            if let Some(slot) = listener_slot {
                if fds[slot].revents != 0 && !self.exiting {
                    self.accept()?;
                }
            }
            for (i, pfd) in fds[first_conn..].iter().enumerate() {
                if pfd.revents == 0 {
                    continue;
                }
                if pfd.revents & libc::POLLOUT != 0 {
                    self.flush_queue(i)?;
                }
                if pfd.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                    self.receive(i)?;
                }
            }
            if !self.exiting && crate::capture::stop_requested() {
                self.interrupted()?;
            }
            self.timers()?;
            self.advance_states()?;
            self.out.flush()?;
        }
        if let Some(l) = self.listener.take() {
            sys::close(&mut self.trace, l, Closing::Listener);
            self.narrate()?;
        }
        self.out.flush()?;
        Ok(())
    }

    /// SIGINT or SIGTERM: ends the chat as `exit` does, without sending the word.
    fn interrupted(&mut self) -> anyhow::Result<()> {
        writeln!(self.out)?;
        let why = if self.verify.is_some() {
            ", so the last frames are checked and each connection's ladder drawn"
        } else {
            ""
        };
        self.say(&format!(
            "interrupted: ending the chat (a FIN to each peer){why}; Ctrl-C again quits at once"
        ))?;
        self.begin_exit(false)
    }

    /// Milliseconds until the next idle flush or linger deadline, or -1.
    fn next_timeout(&self) -> i32 {
        let now = Instant::now();
        let deadlines = self.conns.iter().filter_map(|c| match c.state {
            State::HalfClosed { since } => Some(since + LINGER),
            _ if c.framer.wants_idle_flush() => Some(c.last_rx + IDLE),
            _ => None,
        });
        match deadlines.min() {
            None => -1,
            Some(d) => {
                let ms = d.saturating_duration_since(now).as_millis() + 1;
                i32::try_from(ms).unwrap_or(i32::MAX)
            }
        }
    }

    fn read_stdin(&mut self) -> anyhow::Result<()> {
        let mut buf = vec![0u8; RECV_SIZE];
        let n = match sys::read_stdin(&mut buf) {
            Ok(n) => n,
            Err(e) if e.errno == libc::EINTR || e.errno == libc::EAGAIN => return Ok(()),
            Err(e) => return Err(e).context("reading standard input"),
        };
        if n > 0 && self.is_server {
            self.drop_full_clients()?;
        }
        let mut msgs = Vec::new();
        if n == 0 {
            self.stdin_open = false;
            msgs.extend(self.stdin_framer.flush(Ending::Eof));
        } else {
            self.stdin_framer.push(&buf[..n], &mut msgs);
        }
        for m in msgs {
            if self.exiting {
                break;
            }
            if m.is_exit() && m.ending == Ending::Newline {
                self.begin_exit(true)?;
                break;
            }
            let mut bytes = m.text;
            if m.ending == Ending::Newline {
                bytes.push(b'\n');
            }
            self.broadcast(&bytes)?;
        }
        if !self.stdin_open && !self.exiting {
            if self.is_server {
                // `encap server &` from a script reads /dev/null: the server keeps serving.
                self.say("end of input: nothing more will be typed, the server keeps serving; `exit` is no longer possible, Ctrl-C or SIGTERM ends it")?;
            } else {
                self.begin_exit(false)?;
            }
        }
        Ok(())
    }

    /// Sends `bytes` to every open connection.
    fn broadcast(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let open: Vec<usize> = (0..self.conns.len())
            .filter(|&i| self.conns[i].state == State::Open && !self.conns[i].done)
            .collect();
        if open.is_empty() && self.is_server {
            self.say("(no client is connected: nothing was sent)")?;
        }
        for i in open {
            self.send(i, bytes)?;
        }
        Ok(())
    }

    /// Shows `bytes` through the pipeline as this connection's next segment(s), then hands them to
    /// the kernel (or queues them until there is room).
    fn send(&mut self, i: usize, bytes: &[u8]) -> anyhow::Result<()> {
        let (local, peer) = (self.conns[i].model.local, self.conns[i].model.peer);
        let c = &self.conns[i];
        if self.opts.view != View::None {
            let learned = self
                .verify
                .as_ref()
                .and_then(|v| v.predict(local, peer, bytes));
            let numbers = if learned.is_some() {
                "the kernel's own seq, ack, IP ID and window, learned from the captured frames; TSval read off the sender's millisecond clock"
            } else {
                "seq, ack and IP ID relative to this connection, timestamps placeholders: the kernel's own values are not visible to a socket"
            };
            let frames = match learned {
                Some(f) => f,
                None => c
                    .model
                    .frames(bytes, c.mss)
                    .context("building the frames for a message")?,
            };
            writeln!(
                self.out,
                "-> {}: message {}, {} bytes in {} segment{} ({numbers})",
                c.name(),
                c.model.messages + 1,
                bytes.len(),
                frames.len(),
                if frames.len() == 1 { "" } else { "s" }
            )?;
            if frames.len() > 1 {
                writeln!(
                    self.out,
                    "   split at the MSS the kernel reports (TCP_MAXSEG {}); on lo the kernel may send larger packets (GSO), so its real split can differ",
                    c.mss
                )?;
            }
            for (k, f) in frames.iter().enumerate() {
                if frames.len() > 1 {
                    writeln!(self.out, "=== segment {} of {} ===", k + 1, frames.len())?;
                }
                match self.opts.view {
                    View::Full => render::pipeline::full(self.out, f)?,
                    View::Summary => render::pipeline::summary(self.out, f)?,
                    View::None => {}
                }
            }
        }
        let c = &mut self.conns[i];
        let segments = segment_count(bytes.len(), c.mss.min(c.model.params().max_payload()));
        c.model.on_sent(bytes.len(), segments);
        if c.sent > 0 && c.sent == c.queue.len() {
            c.queue.clear();
            c.sent = 0;
        } else if c.sent > QUEUE_LIMIT {
            c.queue.drain(..c.sent);
            c.sent = 0;
        }
        c.queue.extend_from_slice(bytes);
        if let Some(v) = &mut self.verify {
            v.expect_sent(local, peer, bytes);
        }
        self.flush_queue(i)?;
        // Not when the FIN follows (exit): waiting for the frames would delay it and change who
        // closes first; they are shown once it is sent.
        if !self.exiting && self.conns[i].state == State::Open {
            self.verify_sync(verify::QUIET)?;
        }
        Ok(())
    }

    /// Hands queued bytes to the kernel until it takes less than offered.
    fn flush_queue(&mut self, i: usize) -> anyhow::Result<()> {
        loop {
            let c = &mut self.conns[i];
            if c.done || c.queued() == 0 {
                break;
            }
            let pending = &c.queue[c.sent..];
            let r = sys::send(&mut self.trace, &c.fd, pending);
            let offered = pending.len();
            self.narrate()?;
            let c = &mut self.conns[i];
            match r {
                Ok(n) => {
                    c.sent += n;
                    if c.sent == c.queue.len() {
                        c.queue.clear();
                        c.sent = 0;
                    }
                    if n < offered {
                        break;
                    }
                }
                Err(e) if e.errno == libc::EAGAIN || e.errno == libc::EINTR => break,
                Err(e) => {
                    self.fail(i, e)?;
                    break;
                }
            }
        }
        Ok(())
    }

    fn receive(&mut self, i: usize) -> anyhow::Result<()> {
        if self.conns[i].done {
            return Ok(());
        }
        let r = sys::recv(&mut self.trace, &self.conns[i].fd, &mut self.buf);
        self.narrate()?;
        match r {
            Ok(0) => {
                let c = &mut self.conns[i];
                let last = c.framer.flush(Ending::Eof);
                let ended_with_exit = last.as_ref().is_some_and(Message::is_exit);
                if let Some(m) = last {
                    if !m.is_exit() {
                        self.show(i, &m)?;
                    }
                }
                let name = self.conns[i].name();
                match self.conns[i].state {
                    State::Open if ended_with_exit => {
                        self.say(&format!("{name} ended the dialogue (exit)"))?;
                    }
                    State::Open => self.say(&format!("{name} closed the connection"))?,
                    _ => {}
                }
                self.conns[i].done = true;
                self.verify_sync(verify::QUIET)?;
            }
            Ok(n) => {
                let mut msgs = Vec::new();
                let c = &mut self.conns[i];
                c.model.on_received(n);
                c.last_rx = Instant::now();
                c.framer.push(&self.buf[..n], &mut msgs);
                // In the middle of a line (a long message still arriving): the frames captured
                // so far are checked without waiting for a quiet moment, which would never come
                // while the peer waits for this side to read (120 ms a read, 5 s for 5 MB).
                let mid_line = c.framer.pending() > 0
                    || msgs.last().is_some_and(|m| m.part.is_some_and(|p| !p.last));
                for m in msgs {
                    self.deliver(i, &m)?;
                }
                // After the peer's `exit` our FIN follows at once; its frames are shown then.
                if self.conns[i].state == State::Open {
                    self.verify_sync(if mid_line {
                        Duration::ZERO
                    } else {
                        verify::QUIET
                    })?;
                }
            }
            Err(e) if e.errno == libc::EAGAIN || e.errno == libc::EINTR => {}
            Err(e) => self.fail(i, e)?,
        }
        Ok(())
    }

    /// Shows a message from the peer, or ends the dialogue with it on `exit`.
    fn deliver(&mut self, i: usize, m: &Message) -> anyhow::Result<()> {
        if m.is_exit() {
            if self.conns[i].state == State::Open {
                let name = self.conns[i].name();
                self.say(&format!("{name} ended the dialogue (exit)"))?;
                self.conns[i].state = State::Closing;
                if !self.is_server {
                    self.exiting = true;
                }
            }
            return Ok(());
        }
        self.show(i, m)
    }

    fn show(&mut self, i: usize, m: &Message) -> anyhow::Result<()> {
        let name = self.conns[i].name();
        let part = match m.part {
            Some(p) if p.last => format!(", part {}, last", p.index),
            Some(p) => format!(", part {}", p.index),
            None => String::new(),
        };
        // What arrived: the text and the newline that ended it (not shown, but received).
        let arrived = m.text.len() + usize::from(m.ending == Ending::Newline);
        writeln!(
            self.out,
            "{name} says ({arrived} bytes{part}): {}",
            escape_bytes(&m.text)
        )?;
        Ok(())
    }

    /// More input has come while some clients' queues are full and others' are not: the full
    /// ones have stopped reading (or read too slowly for the rest) and are dropped, each named,
    /// so that the others are not held up.
    fn drop_full_clients(&mut self) -> anyhow::Result<()> {
        for i in 0..self.conns.len() {
            let c = &self.conns[i];
            if c.done || c.queued() < QUEUE_LIMIT {
                continue;
            }
            let (name, queued) = (c.name(), c.queued());
            if let Some(m) = self.conns[i].framer.flush(Ending::Eof) {
                self.show(i, &m)?;
            }
            self.say(&format!(
                "{name} is not reading: {queued} bytes wait for it (at most {QUEUE_LIMIT} may), holding up the other clients; dropping it, the others go on"
            ))?;
            self.conns[i].done = true;
        }
        Ok(())
    }

    /// A connection failed: say why; a client's dialogue ends with an error.
    fn fail(&mut self, i: usize, e: SysError) -> anyhow::Result<()> {
        // Bytes received before the failure are still the peer's message: show them first.
        if let Some(m) = self.conns[i].framer.flush(Ending::Eof) {
            self.show(i, &m)?;
        }
        let name = self.conns[i].name();
        let what = match e.errno {
            libc::ECONNRESET => "reset the connection",
            libc::EPIPE => "is gone",
            _ => "failed",
        };
        self.say(&format!("{name} {what}: {e}"))?;
        self.conns[i].done = true;
        if !self.is_server && self.failure.is_none() {
            self.failure = Some(e);
        }
        Ok(())
    }

    /// `exit` typed (`say_exit`) or end of input: tell every peer, then close each connection.
    fn begin_exit(&mut self, say_exit: bool) -> anyhow::Result<()> {
        self.exiting = true;
        if let Some(l) = self.listener.take() {
            sys::close(&mut self.trace, l, Closing::Listener);
            self.narrate()?;
        }
        if say_exit && self.conns.iter().any(|c| c.state == State::Open && !c.done) {
            self.broadcast(b"exit\n")?;
        }
        for c in &mut self.conns {
            if c.state == State::Open {
                c.state = State::Closing;
            }
        }
        Ok(())
    }

    /// Idle flushes and linger deadlines.
    fn timers(&mut self) -> anyhow::Result<()> {
        let now = Instant::now();
        for i in 0..self.conns.len() {
            let c = &mut self.conns[i];
            if c.done {
                continue;
            }
            if c.framer.wants_idle_flush() && now.duration_since(c.last_rx) >= IDLE {
                if let Some(m) = c.framer.flush(Ending::Idle) {
                    self.deliver(i, &m)?;
                }
            }
            let c = &mut self.conns[i];
            if let State::HalfClosed { since } = c.state {
                if now.duration_since(since) >= LINGER {
                    c.done = true;
                }
            }
        }
        Ok(())
    }

    /// Sends FIN once a closing connection's queue is empty; closes finished connections.
    fn advance_states(&mut self) -> anyhow::Result<()> {
        for i in 0..self.conns.len() {
            let c = &mut self.conns[i];
            if !c.done && c.state == State::Closing && c.queued() == 0 {
                let r = sys::shutdown_write(&mut self.trace, &c.fd);
                self.narrate()?;
                match r {
                    Ok(()) => {
                        self.conns[i].state = State::HalfClosed {
                            since: Instant::now(),
                        };
                        self.verify_sync(verify::QUIET)?;
                    }
                    Err(e) => self.fail(i, e)?,
                }
            }
        }
        let mut i = 0;
        while i < self.conns.len() {
            if self.conns[i].done {
                let c = self.conns.remove(i);
                sys::close(&mut self.trace, c.fd, Closing::Connection);
                self.narrate()?;
                if self.is_server && !self.exiting {
                    self.say(&format!(
                        "{} is gone; {} client{} still connected",
                        c.model.peer,
                        self.conns.len(),
                        if self.conns.len() == 1 { "" } else { "s" }
                    ))?;
                } else {
                    self.say(&format!(
                        "connection with {} closed ({} bytes sent, {} received)",
                        c.model.peer, c.model.sent, c.model.received
                    ))?;
                }
                if let Some(v) = &mut self.verify {
                    v.close(self.out, c.model.local, c.model.peer)?;
                }
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    fn accept(&mut self) -> anyhow::Result<()> {
        let Some(l) = &self.listener else {
            return Ok(());
        };
        let r = sys::accept(&mut self.trace, l);
        match r {
            Ok((fd, peer)) => self.add_conn(fd, Some(peer)),
            Err(e) => {
                self.narrate()?;
                // The peer gave up between the handshake and accept(): nothing to do.
                self.say(&format!(
                    "a connection was lost before it was accepted: {e}"
                ))?;
                Ok(())
            }
        }
    }
}

fn pollfd(fd: i32, events: i16) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}
