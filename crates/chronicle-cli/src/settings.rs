//! Settings, layered: defaults, then `chronicle.toml` (the working directory's, or the file
//! named by `--config` / `CHRONICLE_CONFIG`), then `CHRONICLE_*` environment variables, then
//! command-line flags. Each layer only overrides what it sets.
//!
//! The file uses the setting names below as top-level keys (`data_dir = "..."`); relative
//! paths in it are relative to the file's directory. Environment variables are the same names
//! in upper case after `CHRONICLE_` (`CHRONICLE_DATA_DIR`); a key of a table takes `__`
//! (`CHRONICLE_APPROVAL__MAX_ENTITIES` for `[approval] max_entities`, see [`tables`]).
//! Unknown keys in the file are an error; unknown `CHRONICLE_*` variables are a warning (a
//! typo must not go unnoticed, and a variable meant for another tool must not stop the
//! server).

mod tables;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::path::{Path, PathBuf};
pub use tables::{ApprovalTable, AuthTable, CheckpointTable, RedactionTable};

pub const DEFAULT_DATA_DIR: &str = "./chronicle-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const CONFIG_FILE: &str = "chronicle.toml";

/// Settings names, each also `CHRONICLE_<NAME>` in the environment.
const SETTINGS: &[&str] = &[
    "data_dir",
    "database_url",
    "listen",
    "schema",
    "body_limit",
    "trusted_proxies",
    "origin",
    "default_page_size",
    "max_page_size",
    "pg_schema",
    "checkpoint_key_file",
];

/// Other `CHRONICLE_*` variables that are known and are not settings: the config file's path,
/// the log filter, the test harness's database switches, and the master key (a secret, never
/// a setting that could be printed).
const OTHER_VARIABLES: &[&str] = &[
    "CHRONICLE_CONFIG",
    "CHRONICLE_LOG",
    "CHRONICLE_TEST_DATABASE_URL",
    "CHRONICLE_REQUIRE_PG",
    "CHRONICLE_URL",
    "CHRONICLE_MASTER_KEY",
];

/// One layer: every setting it does not mention is `None`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub listen: Option<String>,
    pub schema: Option<PathBuf>,
    pub body_limit: Option<ByteSize>,
    pub trusted_proxies: Option<Vec<String>>,
    pub origin: Option<String>,
    pub default_page_size: Option<usize>,
    pub max_page_size: Option<usize>,
    /// A PostgreSQL schema to keep every table in (isolation of tests, benchmarks, tenants).
    pub pg_schema: Option<String>,
    /// The checkpoint signing key [default: <data-dir>/checkpoint.key, created when absent].
    pub checkpoint_key_file: Option<PathBuf>,
    /// `[approval]`: when a rollback needs approval (`CHRONICLE_APPROVAL__<KEY>`).
    pub approval: Option<ApprovalTable>,
    /// `[checkpoints]`: cadence and witnesses (`CHRONICLE_CHECKPOINTS__<KEY>`).
    pub checkpoints: Option<CheckpointTable>,
    /// `[auth]`: the admin token, masking, access auditing (`CHRONICLE_AUTH__<KEY>`).
    pub auth: Option<AuthTable>,
    /// `[redaction]`: patterns replaced before storage.
    pub redaction: Option<RedactionTable>,
}

impl Layer {
    /// `self` with every setting `over` mentions replaced by `over`'s.
    fn then(self, over: Layer) -> Layer {
        Layer {
            data_dir: over.data_dir.or(self.data_dir),
            database_url: over.database_url.or(self.database_url),
            listen: over.listen.or(self.listen),
            schema: over.schema.or(self.schema),
            body_limit: over.body_limit.or(self.body_limit),
            trusted_proxies: over.trusted_proxies.or(self.trusted_proxies),
            origin: over.origin.or(self.origin),
            default_page_size: over.default_page_size.or(self.default_page_size),
            max_page_size: over.max_page_size.or(self.max_page_size),
            pg_schema: over.pg_schema.or(self.pg_schema),
            checkpoint_key_file: over.checkpoint_key_file.or(self.checkpoint_key_file),
            approval: tables::merge(self.approval, over.approval, ApprovalTable::then),
            checkpoints: tables::merge(self.checkpoints, over.checkpoints, CheckpointTable::then),
            auth: tables::merge(self.auth, over.auth, AuthTable::then),
            redaction: tables::merge(self.redaction, over.redaction, RedactionTable::then),
        }
    }

    fn from_file(path: &Path) -> Result<Layer> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut layer: Layer = toml::from_str(&text)
            .with_context(|| format!("invalid settings in {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [
            &mut layer.data_dir,
            &mut layer.schema,
            &mut layer.checkpoint_key_file,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(layer)
    }

    /// The layer from `CHRONICLE_*` variables in `vars`, and the names of unknown ones.
    fn from_env(vars: &[(String, String)]) -> Result<(Layer, Vec<String>)> {
        let mut layer = Layer::default();
        let mut unknown = Vec::new();
        for (name, value) in vars {
            let Some(key) = name.strip_prefix("CHRONICLE_") else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            // The value may be a secret (a database URL with its password): errors name the
            // variable, never the value.
            let bad = |what: &str| format!("{name} must be {what}");
            match key.as_str() {
                "data_dir" => layer.data_dir = Some(PathBuf::from(value)),
                "database_url" => layer.database_url = Some(value.clone()),
                "listen" => layer.listen = Some(value.clone()),
                "schema" => layer.schema = Some(PathBuf::from(value)),
                "body_limit" => {
                    layer.body_limit = Some(
                        ByteSize::parse(value)
                            .with_context(|| bad("a size such as 1048576 or 4MiB"))?,
                    )
                }
                "trusted_proxies" => {
                    layer.trusted_proxies = Some(
                        value
                            .split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect(),
                    )
                }
                "origin" => layer.origin = Some(value.clone()),
                "default_page_size" => {
                    layer.default_page_size =
                        Some(value.trim().parse().ok().with_context(|| bad("a number"))?)
                }
                "max_page_size" => {
                    layer.max_page_size =
                        Some(value.trim().parse().ok().with_context(|| bad("a number"))?)
                }
                "pg_schema" => layer.pg_schema = Some(value.clone()),
                "checkpoint_key_file" => layer.checkpoint_key_file = Some(PathBuf::from(value)),
                _ if OTHER_VARIABLES.contains(&name.as_str()) => {}
                nested => {
                    // A key of a table: `<table>__<key>`.
                    let known = match nested.split_once("__") {
                        Some(("approval", k)) => {
                            let mut t = layer.approval.take().unwrap_or_default();
                            let known = t.set(k, value).map_err(|w| anyhow::anyhow!(bad(w)))?;
                            layer.approval = Some(t).filter(|t| *t != ApprovalTable::default());
                            known
                        }
                        Some(("checkpoints", k)) => {
                            let mut t = layer.checkpoints.take().unwrap_or_default();
                            let known = t.set(k, value).map_err(|w| anyhow::anyhow!(bad(w)))?;
                            layer.checkpoints =
                                Some(t).filter(|t| *t != CheckpointTable::default());
                            known
                        }
                        Some(("auth", k)) => {
                            let mut t = layer.auth.take().unwrap_or_default();
                            let known = t.set(k, value).map_err(|w| anyhow::anyhow!(bad(w)))?;
                            layer.auth = Some(t).filter(|t| *t != AuthTable::default());
                            known
                        }
                        Some(("redaction", k)) => {
                            let mut t = layer.redaction.take().unwrap_or_default();
                            let known = t.set(k, value).map_err(|w| anyhow::anyhow!(bad(w)))?;
                            layer.redaction = Some(t).filter(|t| *t != RedactionTable::default());
                            known
                        }
                        _ => false,
                    };
                    if !known {
                        unknown.push(name.clone());
                    }
                }
            }
        }
        Ok((layer, unknown))
    }
}

/// The resolved settings. Server tunables stay `None` unless some layer set them, so that the
/// server's own defaults apply.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub listen: String,
    pub schema: Option<PathBuf>,
    pub body_limit: Option<ByteSize>,
    pub trusted_proxies: Option<Vec<String>>,
    pub origin: Option<String>,
    pub default_page_size: Option<usize>,
    pub max_page_size: Option<usize>,
    pub pg_schema: Option<String>,
    pub checkpoint_key_file: Option<PathBuf>,
    /// The `[approval]` policy, when any layer set a key of it.
    pub approval: Option<chronicle_engine::ApprovalPolicy>,
    pub checkpoints: Option<CheckpointTable>,
    pub auth: Option<AuthTable>,
    pub redaction: Option<RedactionTable>,
    /// Where the file layer came from, if any.
    pub config_file: Option<PathBuf>,
}

impl Settings {
    /// Resolves the layers from the process environment and the working directory, warning
    /// about unknown `CHRONICLE_*` variables.
    pub fn load(config_flag: Option<&Path>, flags: Layer) -> Result<Settings> {
        let vars: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let cwd_file = Path::new(CONFIG_FILE);
        let (settings, unknown) = Settings::resolve(
            config_flag,
            &vars,
            cwd_file.exists().then_some(cwd_file),
            flags,
        )?;
        for name in unknown {
            tracing::warn!(
                "ignoring unknown environment variable {name} (known: {})",
                known_variables().join(", ")
            );
        }
        Ok(settings)
    }

    /// The pure part of [`Settings::load`]: which file, which variables, which flags.
    pub fn resolve(
        config_flag: Option<&Path>,
        vars: &[(String, String)],
        cwd_file: Option<&Path>,
        flags: Layer,
    ) -> Result<(Settings, Vec<String>)> {
        let env_config = vars
            .iter()
            .find(|(k, _)| k == "CHRONICLE_CONFIG")
            .map(|(_, v)| PathBuf::from(v));
        let config_file = config_flag
            .map(Path::to_path_buf)
            .or(env_config)
            .or_else(|| cwd_file.map(Path::to_path_buf));
        let file = match &config_file {
            Some(path) => Layer::from_file(path)?,
            None => Layer::default(),
        };
        let (env, unknown) = Layer::from_env(vars)?;
        let l = Layer::default().then(file).then(env).then(flags);
        if let Some(url) = &l.database_url
            && url.trim().is_empty()
        {
            bail!("the database URL is empty");
        }
        let settings = Settings {
            data_dir: l
                .data_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            database_url: l.database_url,
            listen: l.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
            schema: l.schema,
            body_limit: l.body_limit,
            trusted_proxies: l.trusted_proxies,
            origin: l.origin,
            default_page_size: l.default_page_size,
            max_page_size: l.max_page_size,
            pg_schema: l.pg_schema,
            checkpoint_key_file: l.checkpoint_key_file,
            approval: l.approval.as_ref().map(ApprovalTable::policy),
            checkpoints: l.checkpoints,
            auth: l.auth,
            redaction: l.redaction,
            config_file,
        };
        Ok((settings, unknown))
    }

    /// The checkpoint signing key file: configured, or `<data-dir>/checkpoint.key`.
    pub fn checkpoint_key_path(&self) -> PathBuf {
        self.checkpoint_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("checkpoint.key"))
    }

    /// Where the ledger lives, for [`crate::store::open_store`].
    pub fn location(&self) -> crate::store::Location<'_> {
        crate::store::Location {
            database_url: self.database_url.as_deref(),
            pg_schema: self.pg_schema.as_deref(),
            data_dir: &self.data_dir,
        }
    }

    /// Where the ledger lives, fit for a log line: the database URL with its password masked
    /// (and the PostgreSQL schema, when one is named), or the SQLite file.
    pub fn describe_store(&self) -> String {
        match &self.database_url {
            Some(url) if crate::store::is_postgres(url) => match &self.pg_schema {
                Some(schema) => format!("{} schema {schema}", mask_url(url)),
                None => mask_url(url),
            },
            Some(url) => mask_url(url),
            None => self
                .data_dir
                .join(crate::store::SQLITE_FILE)
                .display()
                .to_string(),
        }
    }
}

pub fn known_variables() -> Vec<String> {
    let nested = |table: &'static str, keys: &'static [&'static str]| {
        keys.iter().map(move |k| format!("{table}__{k}"))
    };
    SETTINGS
        .iter()
        .map(|s| (*s).to_owned())
        .chain(nested("approval", tables::APPROVAL_KEYS))
        .chain(nested("checkpoints", tables::CHECKPOINT_KEYS))
        .chain(nested("auth", tables::AUTH_KEYS))
        .chain(nested("redaction", tables::REDACTION_KEYS))
        .map(|s| format!("CHRONICLE_{}", s.to_uppercase()))
        .chain(OTHER_VARIABLES.iter().map(|s| (*s).to_owned()))
        .collect()
}

/// A size in bytes, written as a number or with a unit (`512KiB`, `4MiB`, `1MB`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn parse(s: &str) -> Option<ByteSize> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (digits, unit) = s.split_at(split);
        let n: u64 = digits.parse().ok()?;
        let mul: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kb" => 1_000,
            "kib" | "k" => 1 << 10,
            "mb" => 1_000_000,
            "mib" | "m" => 1 << 20,
            "gb" => 1_000_000_000,
            "gib" | "g" => 1 << 30,
            _ => return None,
        };
        n.checked_mul(mul).map(ByteSize)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(ByteSize(n)),
            Raw::Text(s) => ByteSize::parse(&s)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid size {s:?}"))),
        }
    }
}

/// The URL with any password replaced by `***`, in the user-info part and in query
/// parameters, so that it can be logged.
pub fn mask_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let (scheme, rest) = url.split_at(scheme_end + 3);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            match userinfo.find(':') {
                Some(colon) => format!("{}:***{host}", &userinfo[..colon]),
                None => authority.to_owned(),
            }
        }
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _))
                        if k.to_ascii_lowercase().contains("pass")
                            || k.eq_ignore_ascii_case("pwd") =>
                    {
                        format!("{k}=***")
                    }
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn passwords_are_masked_in_database_urls() {
        let check = |url: &str, want: &str| assert_eq!(mask_url(url), want, "{url}");
        check(
            "postgres://app:s3cr@t@db:5432/chronicle",
            "postgres://app:***@db:5432/chronicle",
        );
        check("postgres://app@db/chronicle", "postgres://app@db/chronicle");
        check(
            "postgres://db/chronicle?user=app&password=hunter2&sslmode=require",
            "postgres://db/chronicle?user=app&password=***&sslmode=require",
        );
        check("postgresql://u:p@h", "postgresql://u:***@h");
        check("not a url", "not a url");
    }

    #[test]
    fn sizes_parse_with_and_without_units() {
        assert_eq!(ByteSize::parse("1048576"), Some(ByteSize(1 << 20)));
        assert_eq!(ByteSize::parse("4MiB"), Some(ByteSize(4 << 20)));
        assert_eq!(ByteSize::parse("2 kb"), Some(ByteSize(2000)));
        assert_eq!(ByteSize::parse("lots"), None);
        assert_eq!(ByteSize::parse("5 parsecs"), None);
    }

    #[test]
    fn later_layers_win_and_unknown_variables_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("chronicle.toml");
        std::fs::write(
            &file,
            "data_dir = \"from-file\"\nlisten = \"127.0.0.1:1\"\nbody_limit = \"2MiB\"\n",
        )
        .unwrap();
        let env = vars(&[
            ("CHRONICLE_LISTEN", "127.0.0.1:2"),
            ("CHRONICLE_DATABSE_URL", "typo"),
            ("CHRONICLE_LOG", "debug"),
            ("PATH", "/bin"),
        ]);
        let flags = Layer {
            schema: Some("s.toml".into()),
            ..Layer::default()
        };
        let (s, unknown) = Settings::resolve(Some(&file), &env, None, flags).unwrap();
        assert_eq!(s.data_dir, dir.path().join("from-file"));
        assert_eq!(s.listen, "127.0.0.1:2");
        assert_eq!(s.body_limit, Some(ByteSize(2 << 20)));
        assert_eq!(s.schema, Some(PathBuf::from("s.toml")));
        assert_eq!(s.database_url, None);
        assert_eq!(unknown, ["CHRONICLE_DATABSE_URL"]);

        let flags = Layer {
            listen: Some("127.0.0.1:3".into()),
            ..Layer::default()
        };
        let (s, _) = Settings::resolve(Some(&file), &env, None, flags).unwrap();
        assert_eq!(s.listen, "127.0.0.1:3");
    }

    #[test]
    fn defaults_apply_without_file_env_or_flags() {
        let (s, unknown) = Settings::resolve(None, &[], None, Layer::default()).unwrap();
        assert_eq!(
            (s.data_dir, s.listen.as_str(), s.database_url),
            (PathBuf::from(DEFAULT_DATA_DIR), DEFAULT_LISTEN, None)
        );
        assert!(unknown.is_empty());
    }

    #[test]
    fn table_keys_layer_one_at_a_time_from_the_file_and_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("chronicle.toml");
        std::fs::write(
            &file,
            "[approval]\nmax_entities = 50\nentity_types = [\"invoice\"]\n\
             [checkpoints]\nevery_entries = 10\n",
        )
        .unwrap();
        let env = vars(&[
            ("CHRONICLE_APPROVAL__MAX_ENTITIES", "0"),
            ("CHRONICLE_APPROVAL__IMPACT", "high"),
            ("CHRONICLE_CHECKPOINTS__WITNESSES", "w1, w2"),
            ("CHRONICLE_APPROVAL__MAXIMUM", "1"),
        ]);
        let (s, unknown) = Settings::resolve(Some(&file), &env, None, Layer::default()).unwrap();
        let policy = s.approval.unwrap();
        assert_eq!(policy.max_entities, Some(0));
        assert_eq!(policy.entity_types, ["invoice"]);
        assert_eq!(policy.impact, Some(chronicle_core::Impact::High));
        assert_eq!(policy.approvals, 1, "the engine's default");
        let checkpoints = s.checkpoints.unwrap();
        assert_eq!(checkpoints.every_entries, Some(10));
        assert_eq!(checkpoints.witnesses.unwrap(), ["w1", "w2"]);
        assert_eq!(unknown, ["CHRONICLE_APPROVAL__MAXIMUM"]);
        assert!(known_variables().contains(&"CHRONICLE_APPROVAL__MAX_ENTITIES".to_owned()));

        // The environment alone makes a policy; nothing anywhere leaves the server's default.
        let env = vars(&[("CHRONICLE_APPROVAL__APPROVALS", "2")]);
        let (s, _) = Settings::resolve(None, &env, None, Layer::default()).unwrap();
        assert_eq!(s.approval.unwrap().approvals, 2);
        let (s, _) = Settings::resolve(None, &[], None, Layer::default()).unwrap();
        assert_eq!((s.approval, s.checkpoints), (None, None));

        for (name, value) in [
            ("CHRONICLE_APPROVAL__IMPACT", "severe"),
            ("CHRONICLE_APPROVAL__APPROVALS", "many"),
        ] {
            let err = Settings::resolve(None, &vars(&[(name, value)]), None, Layer::default())
                .unwrap_err();
            assert!(format!("{err:#}").contains(name), "{err:#}");
        }
        std::fs::write(&file, "[approval]\nmaximum = 1\n").unwrap();
        assert!(Settings::resolve(Some(&file), &[], None, Layer::default()).is_err());
    }

    #[test]
    fn auth_and_redaction_tables_become_the_server_config() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("chronicle.toml");
        std::fs::write(
            &file,
            "[auth]\nunmask_roles = [\"admin\"]\nfailure_burst = 9\n\
             [redaction]\nbuiltin = false\n\
             [[redaction.rules]]\nname = \"nino\"\npattern = '\\b[A-Z]{2}\\d{6}[A-D]\\b'\n",
        )
        .unwrap();
        let env = vars(&[
            (
                "CHRONICLE_AUTH__ADMIN_TOKEN",
                "a-configured-admin-token-0123",
            ),
            ("CHRONICLE_AUTH__AUDIT_ACCESS", "false"),
            ("CHRONICLE_AUTH__ACCESS_WINDOW_SECS", "300"),
        ]);
        let (s, unknown) = Settings::resolve(Some(&file), &env, None, Layer::default()).unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
        let auth = s.auth.clone().unwrap();
        assert_eq!(auth.audit_access, Some(false));
        assert_eq!(auth.failure_burst, Some(9));
        let mut s = s;
        s.data_dir = dir.path().to_path_buf();
        let config = crate::serve::server_config(&s).unwrap();
        assert_eq!(
            config.auth.unmask_roles,
            [chronicle_server::auth::Role::Admin]
        );
        assert!(!config.auth.audit_access);
        assert_eq!(config.auth.access_window_secs, 300);
        assert_eq!(config.auth.tokens.len(), 1);
        assert_eq!(
            config.redactor.text("id QQ123456C, 4111111111111111"),
            "id [redacted:nino], 4111111111111111"
        );

        for bad in [
            ("CHRONICLE_AUTH__ADMIN_TOKEN", "short"),
            ("CHRONICLE_AUTH__UNMASK_ROLES", "admin,root"),
        ] {
            let (mut s, _) =
                Settings::resolve(None, &vars(&[bad]), None, Layer::default()).unwrap();
            s.data_dir = dir.path().to_path_buf();
            let err = crate::serve::server_config(&s).unwrap_err();
            assert!(format!("{err:#}").contains("[auth]"), "{err:#}");
        }
    }

    #[test]
    fn bad_values_name_the_variable_not_the_value() {
        let err = Settings::resolve(
            None,
            &vars(&[("CHRONICLE_MAX_PAGE_SIZE", "secret-ish")]),
            None,
            Layer::default(),
        )
        .unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("CHRONICLE_MAX_PAGE_SIZE") && !text.contains("secret-ish"),
            "{text}"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "data_dri = \"x\"\n").unwrap();
        assert!(Settings::resolve(Some(&file), &[], None, Layer::default()).is_err());
    }
}
