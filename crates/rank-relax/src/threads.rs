//! Row parallelism: a dedicated, lazily built rayon pool and the row splitter.
//!
//! A parallel call cuts its rows into chunks; the calling thread starts on them at once while
//! `threads − 1` jobs for the pool's workers take chunks too, so a worker that wakes late (or not
//! at all, on a busy machine) only takes fewer chunks and never delays the start. The caller then
//! waits for the chunks still in progress without going to sleep, so no wake-up of the caller is
//! on the critical path either. Waking threads is what parallelism costs on small batches (tens
//! of microseconds in a virtual machine), and this keeps it to one wake-up that overlaps work.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rayon::{ThreadPool, ThreadPoolBuilder};

/// Requested thread count; 0 means the default.
static REQUESTED: AtomicUsize = AtomicUsize::new(0);
/// The pool, rebuilt when the thread count changes. Callers hold an `Arc`, so a rebuild never
/// pulls a pool from under a running call.
static POOL: Mutex<Option<Arc<ThreadPool>>> = Mutex::new(None);

/// Below this much work (≈ element operations) a call runs on the calling thread: handing rows
/// to the pool costs a few microseconds, which tiny batches would notice.
const PARALLEL_MIN_WORK: usize = 1 << 15;
/// Each chunk gets at least this much work, and each thread about eight chunks (so a thread that
/// finishes early finds another to take, and the last chunk is short).
const TASK_MIN_WORK: usize = 1 << 13;
const CHUNKS_PER_THREAD: usize = 8;

/// Caps the number of threads the kernels use; `0` restores the default.
///
/// The default is `RANK_RELAX_NUM_THREADS` if it is set to a positive integer, else the number
/// of available cores. Results do not depend on the thread count: every row is computed the same
/// way on whichever thread runs it.
pub fn set_num_threads(threads: usize) {
    REQUESTED.store(threads, Ordering::Relaxed);
}

/// The number of threads the kernels use now (at least 1).
pub fn num_threads() -> usize {
    match REQUESTED.load(Ordering::Relaxed) {
        0 => default_threads(),
        k => k,
    }
}

fn default_threads() -> usize {
    static DEFAULT: OnceLock<usize> = OnceLock::new();
    *DEFAULT.get_or_init(|| {
        std::env::var("RANK_RELAX_NUM_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&k| k > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |k| k.get()))
    })
}

/// The pool for `threads` threads, or `None` if it cannot be built (then rows run serially).
fn pool(threads: usize) -> Option<Arc<ThreadPool>> {
    let mut guard = POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(pool) = guard.as_ref() {
        if pool.current_num_threads() == threads {
            return Some(Arc::clone(pool));
        }
    }
    let pool = ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("rank-relax-{i}"))
        .build()
        .ok()
        .map(Arc::new)?;
    *guard = Some(Arc::clone(&pool));
    Some(pool)
}

/// A set of row-major buffers that can be split at a row boundary.
pub(crate) trait RowBufs: Send + Sized {
    /// Splits into rows `..mid` and `mid..`.
    fn split_at(self, mid: usize) -> (Self, Self);
}

/// An input buffer viewed as rows of `width` elements.
pub(crate) struct In<'a, T> {
    data: &'a [T],
    width: usize,
}

/// An output buffer viewed as rows of `width` elements.
pub(crate) struct Out<'a, T> {
    data: &'a mut [T],
    width: usize,
}

impl<'a, T> In<'a, T> {
    pub fn new(data: &'a [T], width: usize) -> Self {
        In { data, width }
    }

    /// Row `r`.
    #[inline]
    pub fn row(&self, r: usize) -> &'a [T] {
        &self.data[r * self.width..(r + 1) * self.width]
    }
}

impl<'a, T> Out<'a, T> {
    pub fn new(data: &'a mut [T], width: usize) -> Self {
        Out { data, width }
    }

    /// Row `r`.
    #[inline]
    pub fn row(&mut self, r: usize) -> &mut [T] {
        &mut self.data[r * self.width..(r + 1) * self.width]
    }

    /// Element `r` of a buffer of one value per row.
    #[inline]
    pub fn at(&mut self, r: usize) -> &mut T {
        &mut self.data[r]
    }
}

impl<T: Sync> RowBufs for In<'_, T> {
    fn split_at(self, mid: usize) -> (Self, Self) {
        let (a, b) = self.data.split_at(mid * self.width);
        (In::new(a, self.width), In::new(b, self.width))
    }
}

impl<T: Send> RowBufs for Out<'_, T> {
    fn split_at(self, mid: usize) -> (Self, Self) {
        let (a, b) = self.data.split_at_mut(mid * self.width);
        (Out::new(a, self.width), Out::new(b, self.width))
    }
}

macro_rules! tuple_row_bufs {
    ($($name:ident),+) => {
        impl<$($name: RowBufs),+> RowBufs for ($($name,)+) {
            #[allow(non_snake_case)]
            fn split_at(self, mid: usize) -> (Self, Self) {
                let ($($name,)+) = self;
                $(let $name = $name.split_at(mid);)+
                (($($name.0,)+), ($($name.1,)+))
            }
        }
    };
}

impl<B: RowBufs, const K: usize> RowBufs for [B; K] {
    fn split_at(self, mid: usize) -> (Self, Self) {
        let (mut left, mut right) = (Vec::with_capacity(K), Vec::with_capacity(K));
        for b in self {
            let (l, r) = b.split_at(mid);
            left.push(l);
            right.push(r);
        }
        match (left.try_into(), right.try_into()) {
            (Ok(l), Ok(r)) => (l, r),
            _ => unreachable!("K buffers split into K halves each"),
        }
    }
}

tuple_row_bufs!(A, B);
tuple_row_bufs!(A, B, C);
tuple_row_bufs!(A, B, C, D);
tuple_row_bufs!(A, B, C, D, E);
tuple_row_bufs!(A, B, C, D, E, F);
tuple_row_bufs!(A, B, C, D, E, F, G);
tuple_row_bufs!(A, B, C, D, E, F, G, H);
tuple_row_bufs!(A, B, C, D, E, F, G, H, I);
tuple_row_bufs!(A, B, C, D, E, F, G, H, I, J);
tuple_row_bufs!(A, B, C, D, E, F, G, H, I, J, K);
tuple_row_bufs!(A, B, C, D, E, F, G, H, I, J, K, L);

/// Runs `f(rows, bufs)` over all `rows` rows of `bufs`, splitting them into contiguous row
/// ranges processed in parallel when there is enough work. `row_work` estimates the cost of one
/// row in element operations. `f` must treat each row independently, so the result is the same
/// for every split.
pub(crate) fn run_rows<B, F>(rows: usize, row_work: usize, bufs: B, f: F)
where
    B: RowBufs,
    F: Fn(usize, B) + Sync,
{
    let row_work = row_work.max(1);
    let threads = num_threads();
    if threads <= 1 || rows < 2 || rows.saturating_mul(row_work) < PARALLEL_MIN_WORK {
        return f(rows, bufs);
    }
    // `threads` workers, of which `threads − 1` get a job: the spare one may still be awake from
    // an earlier call and take it without a wake-up.
    let Some(pool) = pool(threads) else {
        return f(rows, bufs);
    };
    let grain = rows
        .div_ceil(threads * CHUNKS_PER_THREAD)
        .max(TASK_MIN_WORK.div_ceil(row_work))
        .max(1);

    // The chunks, each taken once: `next` hands out their indices, `finished` counts those done.
    let mut chunks = Vec::with_capacity(rows.div_ceil(grain));
    let (mut rest, mut left) = (bufs, rows);
    while left > grain {
        let (chunk, tail) = rest.split_at(grain);
        chunks.push(Mutex::new(Some((grain, chunk))));
        rest = tail;
        left -= grain;
    }
    chunks.push(Mutex::new(Some((left, rest))));
    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let work = || {
        while let Some(chunk) = chunks.get(next.fetch_add(1, Ordering::Relaxed)) {
            // Counted on the way out even if `f` panics, so the caller never waits for it.
            let _done = Finished(&finished);
            let taken = chunk
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take();
            if let Some((rows, bufs)) = taken {
                f(rows, bufs);
            }
        }
    };
    pool.in_place_scope(|scope| {
        for _ in 1..threads.min(chunks.len()) {
            scope.spawn(|_| work());
        }
        work();
        // Every chunk is taken; wait for those still running on a worker without sleeping (the
        // scope's own wait would put this thread to sleep and need a wake-up).
        let mut spins = 0u32;
        while finished.load(Ordering::Acquire) < chunks.len() {
            if spins < 1 << 10 {
                spins += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    });
}

/// Adds one to a count of finished chunks when dropped.
struct Finished<'a>(&'a AtomicUsize);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Release);
    }
}
