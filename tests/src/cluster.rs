//! The production shape on loopback for a test: `scripts/cluster up` in a
//! temporary folder (Redis, Postgres with a streaming replica, three demo
//! replicas, nginx with TLS in front), driven through the same script the
//! runbooks use, and stopped with `scripts/cluster down` when dropped.
//!
//! ```no_run
//! # async fn run() {
//! use rampart_tests::cluster::Cluster;
//!
//! // In an integration test: env!("CARGO_BIN_EXE_demo-server").
//! # let bin = "demo-server";
//! let Some(cluster) = Cluster::up(bin, &[]) else { return };
//! let status = cluster.client().get(cluster.url("/ready")).send().await.unwrap().status();
//! assert_eq!(status, 200);
//! cluster.run(&["restart", "2"]); // drains, stops and starts replica 2
//! # }
//! ```

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::Duration,
};

use tempfile::TempDir;

use crate::services_required;

/// The programs `scripts/cluster` needs besides the demo.
const TOOLS: [&str; 4] = ["nginx", "redis-server", "openssl", "pg_ctl"];

/// A running cluster; `scripts/cluster down` when dropped.
#[derive(Debug)]
pub struct Cluster {
    dir: TempDir,
    env: BTreeMap<String, String>,
    client: reqwest::Client,
}

/// One line of nginx's access log, in the cluster's `log_format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLine {
    /// The status nginx answered.
    pub status: u16,
    /// `GET /api/v1/companies`.
    pub request: String,
    /// Each replica tried, in order (`127.0.0.1:PORT`); empty when nginx
    /// answered by itself.
    pub upstreams: Vec<String>,
    /// Each attempt's status (`502` for a failed connection or an answer
    /// cut off).
    pub upstream_statuses: Vec<String>,
}

impl Cluster {
    /// `scripts/cluster up` with `binary` as the demo and `env` added (the
    /// replicas get the `RATE_LIMIT_*`, `HTTP_*`, `SHUTDOWN_*` and
    /// `PASSWORD_HASH_*` among them), or `None` after printing why the test
    /// skips: nginx, Redis, Postgres or openssl missing (a failure under
    /// `RAMPART_REQUIRE_SERVICES=1`).
    ///
    /// # Panics
    ///
    /// When the script fails; the message holds its output.
    #[track_caller]
    pub fn up(binary: impl AsRef<Path>, env: &[(&str, &str)]) -> Option<Self> {
        if let Some(missing) = TOOLS.iter().find(|tool| !installed(tool)) {
            assert!(
                !services_required(),
                "{missing} is not installed but RAMPART_REQUIRE_SERVICES=1 (scripts/test installs it)"
            );
            println!("SKIPPED: {missing} is not installed, so no cluster to test");
            return None;
        }
        let dir = tempfile::tempdir().expect("a temporary folder");
        let mut command = script(dir.path());
        command
            .arg("up")
            .env("CLUSTER_BIN", binary.as_ref())
            .envs(env.iter().copied());
        let output = command.output().expect("scripts/cluster runs");
        let cluster_dir = dir.path().join("cluster");
        if !output.status.success() {
            let logs = logs(&cluster_dir);
            // Whatever did start is stopped.
            let _ = script(dir.path()).arg("down").output();
            panic!("scripts/cluster up failed:\n{}\n{logs}", text(&output));
        }
        let env = script(dir.path())
            .arg("env")
            .output()
            .expect("scripts/cluster env");
        let env = String::from_utf8_lossy(&env.stdout)
            .lines()
            .filter_map(|line| line.strip_prefix("export "))
            .filter_map(|line| line.split_once('='))
            .map(|(name, value)| (name.to_owned(), value.trim_matches('\'').to_owned()))
            .collect::<BTreeMap<_, _>>();
        let ca = std::fs::read(&env["CLUSTER_CA"]).expect("the cluster's CA");
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("a PEM certificate")])
            .build()
            .expect("a reqwest client");
        Some(Self { dir, env, client })
    }

    /// `scripts/cluster ARGS...` on this cluster; its output.
    ///
    /// # Panics
    ///
    /// When it fails.
    #[track_caller]
    pub fn run(&self, args: &[&str]) -> String {
        let output = script(self.dir.path())
            .args(args)
            .output()
            .expect("scripts/cluster runs");
        assert!(
            output.status.success(),
            "scripts/cluster {}:\n{}\n{}",
            args.join(" "),
            text(&output),
            self.logs()
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The command that runs `scripts/cluster ARGS...` on this cluster, for
    /// a test that runs it in the background.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = script(self.dir.path());
        command.args(args);
        command
    }

    /// A value of `scripts/cluster env`: `CLUSTER_URL`, `CLUSTER_CA`,
    /// `OWNER_URL`, `REPLICA_URL`, `REPLICA_1_URL`, ...
    ///
    /// # Panics
    ///
    /// When there is no such variable.
    pub fn env(&self, name: &str) -> &str {
        self.env
            .get(name)
            .unwrap_or_else(|| panic!("scripts/cluster env has no {name}"))
    }

    /// The URL of `path` through nginx (HTTPS).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.env("CLUSTER_URL"))
    }

    /// A client that trusts the cluster's certificate.
    pub fn client(&self) -> reqwest::Client {
        self.client.clone()
    }

    /// `127.0.0.1:PORT` of replica `n` (1, 2 or 3), as nginx logs it.
    pub fn replica_addr(&self, n: u8) -> String {
        self.env(&format!("REPLICA_{n}_URL"))
            .trim_start_matches("http://")
            .to_owned()
    }

    /// The cluster's folder (`CLUSTER_DIR`).
    pub fn dir(&self) -> PathBuf {
        self.dir.path().join("cluster")
    }

    /// nginx's access log so far, parsed; lines it cannot read are left out.
    pub fn access_log(&self) -> Vec<AccessLine> {
        let text =
            std::fs::read_to_string(self.dir().join("nginx/logs/access.log")).unwrap_or_default();
        text.lines().filter_map(AccessLine::parse).collect()
    }

    /// The tail of every replica's and nginx's error log, for a failure message.
    pub fn logs(&self) -> String {
        logs(&self.dir())
    }
}

impl AccessLine {
    /// `2026-01-01T00:00:00+00:00 ID 200 "GET /x" upstream="a, b"
    /// upstream_status="502, 200" request_time=0.001`.
    fn parse(line: &str) -> Option<Self> {
        let mut fields = line.splitn(4, ' ');
        let (_time, _id, status, rest) = (
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
        );
        let quoted = |from: &str, key: &str| -> Option<String> {
            let start = from.find(key)? + key.len();
            let end = from[start..].find('"')?;
            Some(from[start..start + end].to_owned())
        };
        let request = quoted(rest, "\"")?;
        // `a, b` for the replicas tried in turn; `-` when nginx answered itself.
        let list = |value: String| -> Vec<String> {
            if value == "-" {
                return Vec::new();
            }
            value
                .split(", ")
                .map(|part| part.trim().to_owned())
                .collect()
        };
        let upstreams = list(quoted(rest, "upstream=\"")?);
        Some(Self {
            status: status.parse().ok()?,
            request,
            upstreams,
            upstream_statuses: list(quoted(rest, "upstream_status=\"")?),
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = script(self.dir.path()).arg("down").output();
    }
}

fn script(dir: &Path) -> Command {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root");
    let mut command = Command::new(root.join("scripts/cluster"));
    command
        .env("CLUSTER_DIR", dir.join("cluster"))
        .env_remove("DATABASE_URL")
        .env_remove("DATABASE_READ_URL")
        .env_remove("REDIS_URL")
        .stdin(Stdio::null());
    command
}

fn installed(tool: &str) -> bool {
    let found_in = |dir: &Path| dir.join(tool).is_file();
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| found_in(&dir)))
        || found_in(Path::new("/usr/sbin"))
        || (tool == "pg_ctl"
            && std::fs::read_dir("/usr/lib/postgresql")
                .is_ok_and(|versions| versions.flatten().any(|v| found_in(&v.path().join("bin")))))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn logs(dir: &Path) -> String {
    let mut out = String::new();
    for name in [
        "replica1/demo.log",
        "replica2/demo.log",
        "replica3/demo.log",
        "nginx/logs/error.log",
    ] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        out.push_str(&format!("--- {name} (last lines)\n"));
        for line in tail.into_iter().rev() {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_lines_parse() {
        let line = AccessLine::parse(
            "2026-12-05T14:00:18+00:00 0c2d 502 \"POST /api/v1/sessions\" \
             upstream=\"127.0.0.1:1, 127.0.0.1:2\" upstream_status=\"502, 200\" request_time=0.1",
        )
        .unwrap();
        assert_eq!(line.status, 502);
        assert_eq!(line.request, "POST /api/v1/sessions");
        assert_eq!(line.upstreams, ["127.0.0.1:1", "127.0.0.1:2"]);
        assert_eq!(line.upstream_statuses, ["502", "200"]);
        let own = AccessLine::parse(
            "t id 404 \"GET /metrics\" upstream=\"-\" upstream_status=\"-\" request_time=0.000",
        )
        .unwrap();
        assert!(own.upstreams.is_empty() && own.upstream_statuses.is_empty());
        assert_eq!(AccessLine::parse("garbage"), None);
    }
}
