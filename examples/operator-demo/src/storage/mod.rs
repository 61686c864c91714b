//! Object storage by URL, over the `object_store` crate: where backups (and
//! later retention archives) go.
//!
//! - `file:///var/backups/demo`: a local folder (created when missing);
//! - `s3://bucket/prefix`: any S3-compatible store. Credentials, region and
//!   endpoint come from the usual variables: `AWS_ACCESS_KEY_ID`,
//!   `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` (or
//!   `AWS_DEFAULT_REGION`), `AWS_ENDPOINT_URL` for a store other than AWS
//!   (MinIO, Ceph, R2, ...), `AWS_ALLOW_HTTP=true` for a plain-HTTP endpoint
//!   (loopback tests only).
//!
//! Every object written through [`Storage`] gets a checksum object beside
//! it, `NAME.sha256`, in the format of `sha256sum` (`HEX  NAME`), so an
//! operator can check a downloaded copy with `sha256sum -c`. Reads compare
//! the bytes with it and fail with [`StorageError::Checksum`] when they
//! differ; [`Storage::list`] does not show the checksum objects.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use operator_demo::storage::Storage;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let url = format!("file://{}", dir.path().join("store").display());
//! let storage = Storage::from_url(&url).unwrap();
//! let put = storage.put("hello.txt", b"hello".to_vec().into()).await.unwrap();
//! assert_eq!(put.size, 5);
//! assert_eq!(storage.get("hello.txt").await.unwrap().as_ref(), b"hello");
//! let names: Vec<_> = storage.list().await.unwrap().into_iter().map(|o| o.name).collect();
//! assert_eq!(names, ["hello.txt"]);
//! storage.delete("hello.txt").await.unwrap();
//! assert!(storage.list().await.unwrap().is_empty());
//! # }
//! ```

use std::{path::Path as FsPath, sync::Arc};

use futures_util::StreamExt;
use object_store::{
    ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart, aws::AmazonS3Builder,
    local::LocalFileSystem, path::Path,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The suffix of the checksum object written beside every object.
pub const CHECKSUM_SUFFIX: &str = ".sha256";

/// Parts of a large upload: S3 wants at least 5 MiB per part but the last.
const PART_SIZE: usize = 8 * 1024 * 1024;

/// Why storage failed. Each message names what was asked of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The URL is not one this module speaks.
    #[error("unsupported storage URL {url:?}: expected file:///path or s3://bucket/prefix")]
    UnsupportedUrl {
        /// The URL given.
        url: String,
    },
    /// The store could not be set up (bad credentials variables, a folder
    /// that cannot be created, ...).
    #[error("cannot open the store {url}: {message}")]
    Open {
        /// The URL given.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// A request to the store failed.
    #[error("storage: {op} {name}: {source}")]
    Store {
        /// `put`, `get`, `list` or `delete`.
        op: &'static str,
        /// The object's name.
        name: String,
        /// What the store said.
        #[source]
        source: object_store::Error,
    },
    /// The object's bytes do not match its checksum object.
    #[error(
        "checksum mismatch for {name}: the store's {name}{CHECKSUM_SUFFIX} says {expected}, \
         the bytes hash to {actual}; the object is corrupt or incomplete"
    )]
    Checksum {
        /// The object's name.
        name: String,
        /// What the checksum object says.
        expected: String,
        /// What the bytes hash to.
        actual: String,
    },
    /// The checksum object is missing or unreadable.
    #[error("{name} has no readable checksum object {name}{CHECKSUM_SUFFIX}: {message}")]
    MissingChecksum {
        /// The object's name.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}

/// An object in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// Its name under the store's prefix.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// What a write stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The object's size in bytes.
    pub size: u64,
    /// Its SHA-256, lower-case hex (also in `NAME.sha256`).
    pub sha256: String,
}

/// A store of named objects at a URL (see the [module docs](self)). Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    url: String,
}

impl Storage {
    /// Opens the store `url` names (`file:///...` or `s3://bucket/prefix`).
    /// A local folder is created when missing.
    ///
    /// # Errors
    ///
    /// [`StorageError::UnsupportedUrl`] or [`StorageError::Open`].
    pub fn from_url(url: &str) -> Result<Self, StorageError> {
        let open = |message: String| StorageError::Open {
            url: url.to_owned(),
            message,
        };
        let url = url.trim();
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(open(
                    "a file:// URL needs an absolute path (file:///...)".into(),
                ));
            }
            std::fs::create_dir_all(path).map_err(|err| open(err.to_string()))?;
            let store =
                LocalFileSystem::new_with_prefix(path).map_err(|err| open(err.to_string()))?;
            Ok(Self {
                store: Arc::new(store),
                prefix: Path::default(),
                url: url.to_owned(),
            })
        } else if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(open("no bucket in the URL".into()));
            }
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            // object_store reads AWS_REGION; the CLI's AWS_DEFAULT_REGION too.
            if std::env::var_os("AWS_REGION").is_none() {
                if let Ok(region) = std::env::var("AWS_DEFAULT_REGION") {
                    builder = builder.with_region(region);
                }
            }
            let store = builder.build().map_err(|err| open(err.to_string()))?;
            Ok(Self {
                store: Arc::new(store),
                prefix: Path::parse(prefix.trim_matches('/'))
                    .map_err(|err| open(err.to_string()))?,
                url: url.to_owned(),
            })
        } else {
            Err(StorageError::UnsupportedUrl {
                url: url.to_owned(),
            })
        }
    }

    /// The URL it was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn path(&self, name: &str) -> Path {
        self.prefix.clone().join(name)
    }

    fn store_error(
        op: &'static str,
        name: &str,
    ) -> impl FnOnce(object_store::Error) -> StorageError {
        let name = name.to_owned();
        move |source| StorageError::Store { op, name, source }
    }

    /// Writes `bytes` as `name`, then its checksum object.
    ///
    /// # Errors
    ///
    /// [`StorageError::Store`].
    pub async fn put(&self, name: &str, bytes: bytes::Bytes) -> Result<Stored, StorageError> {
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let size = bytes.len() as u64;
        self.store
            .put(&self.path(name), PutPayload::from_bytes(bytes))
            .await
            .map_err(Self::store_error("put", name))?;
        self.put_checksum(name, &sha256).await?;
        Ok(Stored { size, sha256 })
    }

    /// Uploads the local file `file` as `name` in parts (it may be larger
    /// than memory), hashing it on the way, then writes its checksum object.
    /// `progress` is called with the bytes sent so far.
    ///
    /// # Errors
    ///
    /// [`StorageError::Io`] or [`StorageError::Store`].
    pub async fn put_file(
        &self,
        name: &str,
        file: &FsPath,
        mut progress: impl FnMut(u64),
    ) -> Result<Stored, StorageError> {
        let io = |source| StorageError::Io {
            path: file.display().to_string(),
            source,
        };
        let mut reader = tokio::fs::File::open(file).await.map_err(io)?;
        let upload = self
            .store
            .put_multipart(&self.path(name))
            .await
            .map_err(Self::store_error("put", name))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buffer = vec![0u8; 1024 * 1024];
        loop {
            let read = match reader.read(&mut buffer).await {
                Ok(0) => break,
                Ok(read) => read,
                Err(err) => {
                    let _ = writer.abort().await;
                    return Err(io(err));
                }
            };
            hasher.update(&buffer[..read]);
            if let Err(err) = writer.wait_for_capacity(4).await {
                return Err(Self::store_error("put", name)(err));
            }
            writer.write(&buffer[..read]);
            size += read as u64;
            progress(size);
        }
        writer
            .finish()
            .await
            .map_err(Self::store_error("put", name))?;
        let sha256 = hex::encode(hasher.finalize());
        self.put_checksum(name, &sha256).await?;
        Ok(Stored { size, sha256 })
    }

    async fn put_checksum(&self, name: &str, sha256: &str) -> Result<(), StorageError> {
        let line = format!("{sha256}  {name}\n");
        let checksum_name = format!("{name}{CHECKSUM_SUFFIX}");
        self.store
            .put(&self.path(&checksum_name), PutPayload::from(line))
            .await
            .map_err(Self::store_error("put", &checksum_name))?;
        Ok(())
    }

    /// The SHA-256 the checksum object of `name` records.
    ///
    /// # Errors
    ///
    /// [`StorageError::MissingChecksum`].
    pub async fn checksum(&self, name: &str) -> Result<String, StorageError> {
        let missing = |message: String| StorageError::MissingChecksum {
            name: name.to_owned(),
            message,
        };
        let bytes = self
            .store
            .get(&self.path(&format!("{name}{CHECKSUM_SUFFIX}")))
            .await
            .map_err(|err| missing(err.to_string()))?
            .bytes()
            .await
            .map_err(|err| missing(err.to_string()))?;
        let text = String::from_utf8_lossy(&bytes);
        let hex = text.split_whitespace().next().unwrap_or_default();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(missing(format!("not a SHA-256: {:?}", text.trim())));
        }
        Ok(hex.to_ascii_lowercase())
    }

    /// Reads `name` whole and checks it against its checksum object.
    ///
    /// # Errors
    ///
    /// [`StorageError::Store`], [`StorageError::MissingChecksum`] or
    /// [`StorageError::Checksum`].
    pub async fn get(&self, name: &str) -> Result<bytes::Bytes, StorageError> {
        let expected = self.checksum(name).await?;
        let bytes = self
            .store
            .get(&self.path(name))
            .await
            .map_err(Self::store_error("get", name))?
            .bytes()
            .await
            .map_err(Self::store_error("get", name))?;
        let actual = hex::encode(Sha256::digest(&bytes));
        check(name, expected, actual)?;
        Ok(bytes)
    }

    /// Downloads `name` into the local file `file` (created or truncated),
    /// hashing it on the way, and checks it against its checksum object;
    /// on a mismatch the file is removed. `progress` is called with the
    /// bytes received so far. Returns the size.
    ///
    /// # Errors
    ///
    /// As [`Storage::get`], and [`StorageError::Io`].
    pub async fn get_file(
        &self,
        name: &str,
        file: &FsPath,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, StorageError> {
        let expected = self.checksum(name).await?;
        let io = |source| StorageError::Io {
            path: file.display().to_string(),
            source,
        };
        let mut stream = self
            .store
            .get(&self.path(name))
            .await
            .map_err(Self::store_error("get", name))?
            .into_stream();
        let mut writer = tokio::fs::File::create(file).await.map_err(io)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(Self::store_error("get", name))?;
            hasher.update(&chunk);
            writer.write_all(&chunk).await.map_err(io)?;
            size += chunk.len() as u64;
            progress(size);
        }
        writer.flush().await.map_err(io)?;
        writer.sync_all().await.map_err(io)?;
        drop(writer);
        if let Err(err) = check(name, expected, hex::encode(hasher.finalize())) {
            let _ = tokio::fs::remove_file(file).await;
            return Err(err);
        }
        Ok(size)
    }

    /// Every object under the prefix but the checksum objects, by name.
    ///
    /// # Errors
    ///
    /// [`StorageError::Store`].
    pub async fn list(&self) -> Result<Vec<StoredObject>, StorageError> {
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let mut stream = self.store.list(prefix);
        let mut objects = Vec::new();
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(Self::store_error("list", self.prefix.as_ref()))?;
            let Some(name) = meta.location.filename() else {
                continue;
            };
            if name.ends_with(CHECKSUM_SUFFIX) {
                continue;
            }
            objects.push(StoredObject {
                name: name.to_owned(),
                size: meta.size,
            });
        }
        objects.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(objects)
    }

    /// Deletes `name` and its checksum object (either may be missing).
    ///
    /// # Errors
    ///
    /// [`StorageError::Store`].
    pub async fn delete(&self, name: &str) -> Result<(), StorageError> {
        for name in [name.to_owned(), format!("{name}{CHECKSUM_SUFFIX}")] {
            match self.store.delete(&self.path(&name)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(source) => return Err(Self::store_error("delete", &name)(source)),
            }
        }
        Ok(())
    }
}

fn check(name: &str, expected: String, actual: String) -> Result<(), StorageError> {
    if expected == actual {
        Ok(())
    } else {
        Err(StorageError::Checksum {
            name: name.to_owned(),
            expected,
            actual,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder() -> (tempfile::TempDir, Storage) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().join("s").display());
        let storage = Storage::from_url(&url).unwrap();
        (dir, storage)
    }

    #[tokio::test]
    async fn a_flipped_byte_is_refused_with_both_checksums() {
        let (dir, storage) = folder();
        storage.put("a.bin", vec![1u8; 100].into()).await.unwrap();
        let file = dir.path().join("s/a.bin");
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[50] ^= 1;
        std::fs::write(&file, bytes).unwrap();
        let err = storage.get("a.bin").await.unwrap_err();
        assert!(matches!(err, StorageError::Checksum { .. }), "{err}");
        let local = dir.path().join("copy");
        let err = storage.get_file("a.bin", &local, |_| {}).await.unwrap_err();
        assert!(
            err.to_string().contains("checksum mismatch for a.bin"),
            "{err}"
        );
        assert!(!local.exists(), "a corrupt download is not left behind");
    }

    #[tokio::test]
    async fn large_files_go_in_parts_and_come_back_whole() {
        let (dir, storage) = folder();
        let source = dir.path().join("big");
        let data: Vec<u8> = (0..(PART_SIZE * 2 + 123))
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&source, &data).unwrap();
        let stored = storage.put_file("big", &source, |_| {}).await.unwrap();
        assert_eq!(stored.size, data.len() as u64);
        assert_eq!(stored.sha256, hex::encode(Sha256::digest(&data)));
        let copy = dir.path().join("copy");
        assert_eq!(
            storage.get_file("big", &copy, |_| {}).await.unwrap(),
            stored.size
        );
        assert_eq!(std::fs::read(copy).unwrap(), data);
    }

    #[test]
    fn bad_urls_are_named() {
        for bad in ["ftp://x/y", "file://relative", "s3://", "/plain/path"] {
            let err = Storage::from_url(bad).unwrap_err().to_string();
            assert!(err.contains(bad.trim()), "{bad}: {err}");
        }
    }

    #[tokio::test]
    async fn a_missing_checksum_is_an_error_not_a_pass() {
        let (dir, storage) = folder();
        storage.put("a", vec![1u8].into()).await.unwrap();
        std::fs::remove_file(dir.path().join("s/a.sha256")).unwrap();
        let err = storage.get("a").await.unwrap_err();
        assert!(matches!(err, StorageError::MissingChecksum { .. }), "{err}");
    }
}
