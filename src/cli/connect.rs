//! The flags of a live connection as the command line spells them (redis-cli's names, Sentinel's),
//! as clap types flattened into `scan` and `snapshot`, and their conversion into the library's
//! plain `source::RedisOpts` and `source::SentinelOpts` (the library knows nothing of clap).

use cache_compat::source::{
    ClusterMode, DEFAULT_MAX_ELEMENTS, DEFAULT_MAX_VALUE_BYTES, ReadFrom, RedisOpts, SentinelOpts,
};
use std::path::PathBuf;

/// Whether the server is a Redis Cluster node (`source::ClusterMode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ClusterArg {
    /// Ask the server (HELLO's `mode`, or CLUSTER SLOTS on Redis < 6).
    #[default]
    Auto,
    /// A cluster: scan every master.
    Yes,
    /// A single server (a cluster node is then scanned alone).
    No,
}

impl From<ClusterArg> for ClusterMode {
    fn from(c: ClusterArg) -> ClusterMode {
        match c {
            ClusterArg::Auto => ClusterMode::Auto,
            ClusterArg::Yes => ClusterMode::Yes,
            ClusterArg::No => ClusterMode::No,
        }
    }
}

/// Connection options of a live Redis beyond its URL; the names are redis-cli's.
#[derive(Debug, Clone, clap::Args)]
pub struct RedisArgs {
    /// Connect with TLS (as a rediss:// URL does).
    #[arg(long)]
    pub tls: bool,
    /// CA certificate file (PEM) to verify the server with, instead of the system's roots.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Directory of CA certificates (*.pem, *.crt) to verify the server with.
    #[arg(long, value_name = "DIR")]
    pub cacertdir: Option<PathBuf>,
    /// Client certificate (PEM) for servers that require one (tls-auth-clients).
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Private key of --cert (PEM, PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Do not verify the server's certificate.
    #[arg(long)]
    pub insecure: bool,
    /// Server name for TLS SNI and certificate verification. The Redis client library derives it
    /// from the URL's host, so only a value equal to that host is accepted.
    #[arg(long, value_name = "HOST")]
    pub sni: Option<String>,
    /// ACL user name (overrides the URL's).
    #[arg(long)]
    pub user: Option<String>,
    /// Password (overrides the URL's and REDISCLI_AUTH; visible to other local users in the
    /// process list: prefer REDISCLI_AUTH).
    #[arg(long = "pass", short = 'a', value_name = "PASSWORD")]
    pub pass: Option<String>,
    /// Database number (overrides the URL's /DB).
    #[arg(short = 'n', long = "db", value_name = "DB")]
    pub db: Option<i64>,
    /// Redis Cluster: auto (ask the server), yes (`--cluster` alone) or no.
    #[arg(long, value_enum, default_value_t = ClusterArg::Auto, num_args = 0..=1, default_missing_value = "yes")]
    pub cluster: ClusterArg,
    /// At most this many elements (hash fields, list items, set and sorted-set members) per key.
    #[arg(long, default_value_t = DEFAULT_MAX_ELEMENTS)]
    pub max_elements: u64,
    /// Values longer than this many bytes are read by prefix (GETRANGE) and reported as partial.
    #[arg(long, default_value_t = DEFAULT_MAX_VALUE_BYTES)]
    pub max_value_bytes: u64,
}

impl From<RedisArgs> for RedisOpts {
    fn from(a: RedisArgs) -> RedisOpts {
        RedisOpts {
            tls: a.tls,
            cacert: a.cacert,
            cacertdir: a.cacertdir,
            cert: a.cert,
            key: a.key,
            insecure: a.insecure,
            sni: a.sni,
            user: a.user,
            pass: a.pass,
            db: a.db,
            cluster: a.cluster.into(),
            max_elements: a.max_elements,
            max_value_bytes: a.max_value_bytes,
        }
    }
}

/// Which node of a Sentinel-managed set is read (`source::ReadFrom`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ReadFromArg {
    /// The master the Sentinel names.
    #[default]
    Master,
    /// A replica the Sentinel lists as up (spares the master the scan's load).
    Replica,
}

impl From<ReadFromArg> for ReadFrom {
    fn from(r: ReadFromArg) -> ReadFrom {
        match r {
            ReadFromArg::Master => ReadFrom::Master,
            ReadFromArg::Replica => ReadFrom::Replica,
        }
    }
}

/// Redis Sentinel options: the sentinels are asked where the master (and its replicas) are; the
/// node chosen is then read as `--redis` would read it (`-n`, `--user`/`--pass`, the TLS flags
/// apply to it).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SentinelArgs {
    /// A Redis Sentinel, HOST:PORT (repeatable: they are asked in order, the first that names the
    /// master is used). Instead of --redis.
    #[arg(
        id = "sentinel",
        long = "sentinel",
        value_name = "HOST:PORT",
        conflicts_with = "redis",
        requires = "sentinel_master"
    )]
    pub sentinels: Vec<String>,
    /// The master's name as the sentinels monitor it (`sentinel monitor NAME ...`).
    #[arg(long, value_name = "NAME")]
    pub sentinel_master: Option<String>,
    /// With --sentinel: read the master (default) or a replica the sentinel lists as up.
    #[arg(long, value_enum)]
    pub read_from: Option<ReadFromArg>,
    /// ACL user name for the sentinels (their own, not the data node's --user).
    #[arg(long, value_name = "USER")]
    pub sentinel_user: Option<String>,
    /// Password for the sentinels (`requirepass` in sentinel.conf); prefer the environment
    /// variable, a flag is visible in the process list.
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "CACHE_COMPAT_SENTINEL_PASS",
        hide_env_values = true
    )]
    pub sentinel_pass: Option<String>,
}

impl From<SentinelArgs> for SentinelOpts {
    fn from(a: SentinelArgs) -> SentinelOpts {
        SentinelOpts {
            sentinels: a.sentinels,
            sentinel_master: a.sentinel_master,
            read_from: a.read_from.map(ReadFrom::from),
            sentinel_user: a.sentinel_user,
            sentinel_pass: a.sentinel_pass,
        }
    }
}

/// Ask the sentinels which node to read (docs/live-redis.md, Sentinel) and say so on standard
/// error unless `tell` is false (`--progress none`).
pub fn via_sentinel(
    s: &SentinelOpts,
    opts: &RedisOpts,
    tell: bool,
) -> anyhow::Result<cache_compat::source::SentinelChoice> {
    if opts.cluster == ClusterMode::Yes {
        anyhow::bail!(
            "--cluster yes and --sentinel: a Sentinel-managed server is not a Redis Cluster"
        );
    }
    let c = cache_compat::source::resolve_sentinel(s)?;
    if tell {
        eprintln!("cache-compat: {}", c.note);
    }
    Ok(c)
}
