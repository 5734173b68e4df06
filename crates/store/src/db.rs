//! The writer thread, the reader pool and migrations.

use crate::{schema::MIGRATIONS, Result, StoreError};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// Reply sent once the batch a job belonged to has committed (or failed to).
type Completion = Box<dyn FnOnce(Result<()>) + Send>;
type Job = Box<dyn FnOnce(&Connection) -> Completion + Send>;

#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The SQLite file.
    pub path: PathBuf,
    /// Reader connections (concurrent reads).
    pub readers: usize,
    /// Most jobs committed in one transaction.
    pub max_batch: usize,
    /// `synchronous=FULL` (fsync on every commit). Only tests of pure logic turn it off.
    pub durable: bool,
}

impl StoreConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StoreConfig { path: path.into(), readers: 4, max_batch: 512, durable: true }
    }
}

/// A handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Mutex<Option<mpsc::Sender<Job>>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    readers_available: Arc<tokio::sync::Semaphore>,
    path: PathBuf,
    /// Write jobs sent to the writer since open (see [`Store::write_count`]).
    writes: AtomicU64,
}

/// A reader connection taken from the pool; it goes back when dropped (also on a panic).
struct Reader {
    inner: Arc<Inner>,
    conn: Option<Connection>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for Reader {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.inner.readers.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
        }
    }
}

impl Reader {
    fn conn(&self) -> &Connection {
        self.conn.as_ref().expect("a reader holds its connection until dropped")
    }
}

impl Inner {
    async fn take_reader(self: Arc<Self>) -> Result<Reader> {
        let permit = self.readers_available.clone().acquire_owned().await.map_err(|_| StoreError::Closed)?;
        let conn = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop().expect("a permit guarantees a reader");
        Ok(Reader { inner: self, conn: Some(conn), _permit: permit })
    }
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Every record type's INSERT, UPDATE and lookups are cached (rusqlite's default keeps 16).
    conn.set_prepared_statement_cache_capacity(128);
    Ok(())
}

impl Store {
    /// Open (creating if missing) the database, run migrations and start the writer thread.
    pub fn open(config: StoreConfig) -> Result<Store> {
        if let Some(dir) = config.path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        let mut writer = Connection::open(&config.path)?;
        configure(&writer)?;
        let mode: String = writer.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(mode, "SQLite refused WAL mode");
        }
        writer.pragma_update(None, "synchronous", if config.durable { "FULL" } else { "OFF" })?;
        migrate(&mut writer)?;

        let mut readers = Vec::with_capacity(config.readers.max(1));
        for _ in 0..config.readers.max(1) {
            let r = Connection::open_with_flags(
                &config.path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
            )?;
            configure(&r)?;
            readers.push(r);
        }

        let (tx, rx) = mpsc::channel::<Job>();
        let max_batch = config.max_batch.max(1);
        let handle = std::thread::Builder::new()
            .name("ferric-store-writer".into())
            .spawn(move || writer_loop(writer, rx, max_batch))?;

        Ok(Store {
            inner: Arc::new(Inner {
                writer: Mutex::new(Some(tx)),
                writer_thread: Mutex::new(Some(handle)),
                readers_available: Arc::new(tokio::sync::Semaphore::new(readers.len())),
                readers: Mutex::new(readers),
                path: config.path,
                writes: AtomicU64::new(0),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Write jobs submitted since the store was opened, whether they changed a row or not
    /// (every [`Store::write`], so every lock, release and save counts). Tests use it to
    /// prove that a code path writes nothing.
    pub fn write_count(&self) -> u64 {
        self.inner.writes.load(Ordering::Relaxed)
    }

    /// Run `f` on the writer connection inside a savepoint of the current group transaction.
    /// Returns once the transaction holding it has committed durably.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |conn: &Connection| {
            // Cached statements: parsing them for every job showed in the profile of heartbeats.
            let run = |sql: &str| conn.prepare_cached(sql).and_then(|mut st| st.execute([])).map(|_| ());
            let result = match run("SAVEPOINT job") {
                Ok(()) => {
                    let r = f(conn);
                    let end = if r.is_ok() { run("RELEASE job") } else { run("ROLLBACK TO job").and_then(|()| run("RELEASE job")) };
                    match end {
                        Ok(()) => r,
                        Err(e) => Err(e.into()),
                    }
                }
                Err(e) => Err(e.into()),
            };
            Box::new(move |commit: Result<()>| {
                let _ = tx.send(commit.and(result));
            })
        });
        let sender = self.inner.writer.lock().unwrap().clone().ok_or(StoreError::Closed)?;
        self.inner.writes.fetch_add(1, Ordering::Relaxed);
        sender.send(job).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Run `f` on a reader connection (on the blocking pool): for reads that may take long
    /// (lists, scans), which must not hold up the async workers.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        // The reader (connection and permit) goes into the blocking task and back to the pool
        // with it: a caller that stops waiting (a client that hung up) must not free the permit
        // of a connection still in use, or the next reader finds none.
        let reader = self.inner.clone().take_reader().await?;
        tokio::task::spawn_blocking(move || f(reader.conn())).await.map_err(|_| StoreError::Closed)?
    }

    /// Run `f` on a reader connection on the calling thread: for a point lookup by an indexed
    /// column (tens of microseconds in WAL mode, where readers do not wait for the writer),
    /// which costs less than the two thread hand-offs of [`Store::read`]. Heartbeats, lookups
    /// and the checks before a create are such reads.
    pub async fn read_now<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T>,
    {
        let reader = self.inner.clone().take_reader().await?;
        f(reader.conn())
    }

    /// Stop the writer after it has committed everything queued so far.
    pub fn close(&self) {
        self.inner.writer.lock().unwrap().take();
        if let Some(h) = self.inner.writer_thread.lock().unwrap().take() {
            let _ = h.join();
        }
    }
}

fn writer_loop(mut conn: Connection, rx: mpsc::Receiver<Job>, max_batch: usize) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let tx = match conn.transaction() {
            Ok(tx) => tx,
            Err(e) => {
                // Dropping the jobs drops their reply channels: every caller gets `Closed`.
                tracing::error!(error = %e, jobs = batch.len(), "store: cannot begin a transaction");
                continue;
            }
        };
        let completions: Vec<Completion> = batch.into_iter().map(|job| job(&tx)).collect();
        let commit = tx.commit().map_err(StoreError::from);
        let commit_msg = commit.as_ref().err().map(|e| e.to_string());
        if let Some(m) = &commit_msg {
            tracing::error!(error = %m, "store: commit failed");
        }
        for c in completions {
            c(match &commit_msg {
                None => Ok(()),
                Some(m) => Err(StoreError::CommitFailed(m.clone())),
            });
        }
    }
    tracing::debug!("store writer stopped");
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction()?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let current: i64 = tx.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_version", [], |r| r.get(0))?;
    if current as usize > MIGRATIONS.len() {
        return Err(StoreError::InvalidQuery(format!(
            "database schema version {current} is newer than this ferric ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tracing::info!(version = i + 1, "applying schema migration");
        tx.execute_batch(sql)?;
        tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [(i + 1) as i64])?;
    }
    tx.commit()?;
    Ok(())
}
