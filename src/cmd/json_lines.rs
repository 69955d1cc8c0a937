//! `decode --json` on every core: the reading loop stays on the main thread (its counts, the
//! HTTP streams that follow frames in order, the errors it names), each frame's line is
//! formatted by a pool of threads a batch at a time, and the batches are written in the order
//! they were read. Each frame's line depends on that frame alone, so the output is byte for
//! byte the one-thread output (`tests/decode.rs` compares them).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::ops::Range;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use encap::dissect::{slice_link, Sliced};
use encap::render::frames::{json_into, Frame};

/// Frames in a batch: enough to make a batch's trip between threads cheap beside formatting it.
const BATCH: usize = 512;
/// Batches waiting for a formatter, beyond those being formatted: memory stays flat.
const QUEUED: usize = 4;

/// Where the reading loop puts each frame's JSON line.
pub enum Sink<'w, W: Write> {
    /// Formatted here and written at once.
    Here { out: &'w mut W, line: Vec<u8> },
    /// Formatted by the pool, written in order.
    Pool(Pool<'w, W>),
}

impl<W: Write> Sink<'_, W> {
    /// Frame `frame`'s line (`s`: the frame sliced; the pool's threads slice their copy again).
    ///
    /// # Errors
    /// Writing fails.
    pub fn frame(&mut self, frame: &Frame<'_>, s: &Sliced<'_>) -> io::Result<()> {
        match self {
            Sink::Here { out, line } => {
                line.clear();
                json_into(line, frame, s, true)?;
                line.push(b'\n');
                out.write_all(line)
            }
            Sink::Pool(p) => p.frame(frame),
        }
    }

    /// A line formatted already (one of a frame with HTTP, which needs its stream's state).
    ///
    /// # Errors
    /// Writing fails.
    pub fn line(&mut self, line: Vec<u8>) -> io::Result<()> {
        match self {
            Sink::Here { out, .. } => out.write_all(&line),
            Sink::Pool(p) => p.push(Entry::Line(line)),
        }
    }

    /// Everything given, written.
    ///
    /// # Errors
    /// Writing fails.
    pub fn finish(self) -> io::Result<()> {
        match self {
            Sink::Here { .. } => Ok(()),
            Sink::Pool(p) => p.finish(),
        }
    }
}

/// One frame of a batch, its bytes in the batch's buffer.
struct Item {
    number: u64,
    timestamp: Duration,
    orig_len: usize,
    link_type: u32,
    bytes: Range<usize>,
}

/// A frame, or a line already formatted.
enum Entry {
    Frame(Item),
    Line(Vec<u8>),
}

/// Frames read one after another, formatted together. A batch goes to a formatter and comes
/// back with its lines, and once they are written it is filled again: its buffers are reused,
/// not allocated (and their pages faulted in) for each batch.
struct Batch {
    seq: u64,
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    lines: Vec<u8>,
}

impl Batch {
    /// An empty batch, with room for a batch of frames of a few hundred bytes.
    fn new() -> Batch {
        Batch {
            seq: 0,
            bytes: Vec::with_capacity(BATCH * 256),
            entries: Vec::with_capacity(BATCH),
            lines: Vec::with_capacity(BATCH * 1024),
        }
    }

    /// Each entry's line, in order, into [`Batch::lines`].
    fn format(&mut self) -> io::Result<()> {
        let out = &mut self.lines;
        out.clear();
        for e in &self.entries {
            match e {
                Entry::Frame(i) => {
                    let data = &self.bytes[i.bytes.clone()];
                    let frame = Frame {
                        number: i.number,
                        timestamp: i.timestamp,
                        data,
                        orig_len: i.orig_len,
                        utc_offset: 0,
                        link_type: i.link_type,
                    };
                    let s = slice_link(data, i.link_type);
                    json_into(out, &frame, &s, true)?;
                    out.push(b'\n');
                }
                Entry::Line(l) => out.extend_from_slice(l),
            }
        }
        Ok(())
    }
}

/// The formatting threads' end of the work, and the writer's.
pub struct Pool<'w, W: Write> {
    out: &'w mut W,
    batch: Batch,
    jobs: Option<SyncSender<Batch>>,
    done: Receiver<(Batch, io::Result<()>)>,
    /// Batches formatted ahead of the next one to write.
    ahead: BTreeMap<u64, (Batch, io::Result<()>)>,
    /// Batches written, to be filled again.
    spare: Vec<Batch>,
    sent: u64,
    written: u64,
}

impl<'w, W: Write> Pool<'w, W> {
    /// `threads` formatters in `scope`, writing to `out`.
    pub fn new<'s, 'e>(
        scope: &'s std::thread::Scope<'s, 'e>,
        threads: usize,
        out: &'w mut W,
    ) -> Pool<'w, W> {
        let (jobs, queue) = mpsc::sync_channel::<Batch>(QUEUED);
        let (results, done) = mpsc::channel();
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..threads {
            let (queue, results) = (Arc::clone(&queue), results.clone());
            scope.spawn(move || loop {
                // (The lock is held only to take a batch, not while formatting it.)
                let next = queue.lock().map(|q| q.recv());
                let Ok(Ok(mut batch)) = next else { return };
                let formatted = batch.format();
                if results.send((batch, formatted)).is_err() {
                    return;
                }
            });
        }
        Pool {
            out,
            batch: Batch::new(),
            jobs: Some(jobs),
            done,
            ahead: BTreeMap::new(),
            spare: Vec::new(),
            sent: 0,
            written: 0,
        }
    }

    fn frame(&mut self, frame: &Frame<'_>) -> io::Result<()> {
        let start = self.batch.bytes.len();
        self.batch.bytes.extend_from_slice(frame.data);
        self.push(Entry::Frame(Item {
            number: frame.number,
            timestamp: frame.timestamp,
            orig_len: frame.orig_len,
            link_type: frame.link_type,
            bytes: start..self.batch.bytes.len(),
        }))
    }

    fn push(&mut self, e: Entry) -> io::Result<()> {
        self.batch.entries.push(e);
        if self.batch.entries.len() < BATCH {
            return Ok(());
        }
        self.send()?;
        // Whatever is formatted already goes out now, without waiting for the rest.
        while let Ok((batch, formatted)) = self.done.try_recv() {
            self.ahead.insert(batch.seq, (batch, formatted));
        }
        self.write_ready()
    }

    fn send(&mut self) -> io::Result<()> {
        let next = self.spare.pop().unwrap_or_else(Batch::new);
        let mut batch = std::mem::replace(&mut self.batch, next);
        batch.seq = self.sent;
        self.sent += 1;
        let gone = || io::Error::other("the formatting threads stopped");
        self.jobs
            .as_ref()
            .ok_or_else(gone)?
            .send(batch)
            .map_err(|_| gone())
    }

    /// Writes the batches that are next in order.
    fn write_ready(&mut self) -> io::Result<()> {
        while let Some((mut batch, formatted)) = self.ahead.remove(&self.written) {
            formatted?;
            self.out.write_all(&batch.lines)?;
            self.written += 1;
            batch.bytes.clear();
            batch.entries.clear();
            self.spare.push(batch);
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<()> {
        if !self.batch.entries.is_empty() {
            self.send()?;
        }
        // (No more batches: each formatter stops once the queue is empty.)
        self.jobs = None;
        while self.written < self.sent {
            let (batch, formatted) = self
                .done
                .recv()
                .map_err(|_| io::Error::other("a formatting thread stopped"))?;
            self.ahead.insert(batch.seq, (batch, formatted));
            self.write_ready()?;
        }
        Ok(())
    }
}
