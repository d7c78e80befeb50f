//! The load pipeline: size check → claims verification (unsigned refused unless allowed,
//! trusted issuers) → ABI shape check (imports, exports) → compile, through the artifact
//! cache.

use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmer::sys::{BaseTunables, CompilerConfig, Cranelift, NativeEngineExt};
use wasmer::wasmparser::Operator;
use wasmer::{Engine, ExternType, Module};
use wasmer_middlewares::Metering;

use crate::abi::{self, IMPORT_MODULE, LimitingTunables, REQUIRED_EXPORTS};
use crate::cache::{ArtifactCache, CacheOutcome, Lookup};
use crate::enforce::Identity;
use crate::error::LoadError;
use crate::limits::Limits;
use crate::metrics::Metrics;

/// The wasmer release this crate is built against (wasmer-middlewares pins wasmer exactly,
/// so this names the engine that produced a cached artifact). Artifacts also carry wasmer's
/// own version header, checked on load, so a mismatch means a recompile, never a bad load.
const WASMER_VERSION: &str = "7.4.2";

/// What happened while loading a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// The module's name (from its claims; the file name or `unsigned` without claims).
    pub module: String,
    /// SHA-256 (lowercase hex) of the module without its claims: for a signed module, the
    /// hash its claims record and verification just checked (`cargo wascap inspect` shows
    /// it), so it is not computed twice; for an unsigned one, of its bytes. It keys the
    /// artifact cache, so re-signing the same code keeps its compiled artifact.
    pub module_hash: String,
    /// Whether the module carried verified claims.
    pub signed: bool,
    /// How the compiled code was obtained.
    pub cache: CacheOutcome,
    /// The artifact file in the cache, when the cache is enabled and the entry is present.
    pub artifact: Option<PathBuf>,
}

/// Host settings the load pipeline needs.
pub(crate) struct LoadConfig {
    pub(crate) trusted_issuers: Vec<String>,
    pub(crate) allow_unsigned: bool,
    pub(crate) limits: Limits,
    pub(crate) cache: Option<ArtifactCache>,
}

/// A verified, compiled module, ready to instantiate.
pub(crate) struct Loaded {
    pub(crate) engine: Engine,
    pub(crate) module: Module,
    pub(crate) identity: Identity,
    pub(crate) claims: Option<wascap::Claims>,
    pub(crate) report: LoadReport,
}

/// The metering cost of one operator: every operator costs one unit of fuel.
fn cost(_op: &Operator<'_>) -> u64 {
    1
}

/// A fresh engine: Cranelift, the metering middleware (one per module: wasmer's `Metering`
/// may serve only one module), and tunables clamping memory to the limit.
pub(crate) fn new_engine(limits: &Limits) -> Engine {
    let mut compiler = Cranelift::default();
    compiler.push_middleware(Arc::new(Metering::new(limits.max_fuel_per_call, cost)));
    let mut engine: Engine = compiler.into();
    engine.set_tunables(LimitingTunables::new(
        BaseTunables::new(),
        limits.max_memory_pages(),
    ));
    engine
}

/// The cache directory name for this engine configuration: wasmer version, target,
/// compiler, and the metering set-up (the initial fuel is compiled into the artifact).
pub(crate) fn engine_key(limits: &Limits) -> String {
    let engine = new_engine(limits);
    let raw = format!(
        "wasmer-{WASMER_VERSION}-{}-{}-metered1-fuel{}",
        engine.target().triple(),
        engine.deterministic_id(),
        limits.max_fuel_per_call
    );
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Runs the whole pipeline on `bytes`. `name_hint` names the module in errors until its
/// claims are read (a file name, say).
pub(crate) fn load(
    cfg: &LoadConfig,
    metrics: &Metrics,
    name_hint: Option<&str>,
    bytes: &[u8],
) -> Result<Loaded, LoadError> {
    let hint = name_hint.unwrap_or("unsigned").to_string();
    if bytes.len() > cfg.limits.max_module_bytes {
        return Err(LoadError::TooLarge {
            module: hint,
            size: bytes.len(),
            limit: cfg.limits.max_module_bytes,
        });
    }
    let engine = new_engine(&cfg.limits);
    // A warm start is two big jobs: hashing the module to verify it, and deserialising its
    // compiled artifact. The token names the hash before verification has computed it, so
    // the artifact under that name is fetched from the host's own cache on a second thread
    // meanwhile (benchmark P3). It is used only if verification succeeds with that very
    // hash; a lying token costs a wasted fetch, nothing more.
    let (verified, prefetched) = std::thread::scope(|scope| {
        let prefetch = cfg
            .cache
            .as_ref()
            .zip(wascap::claimed_hash(bytes))
            .and_then(|(cache, claimed)| {
                let engine = &engine;
                std::thread::Builder::new()
                    .name("waxo-prefetch".into())
                    .spawn_scoped(scope, move || {
                        let key = claimed.to_ascii_lowercase();
                        let fetched = fetch(cache, engine, &key);
                        Prefetched { key, fetched }
                    })
                    .ok()
            });
        let verified = verify(cfg, &hint, bytes);
        (verified, prefetch.and_then(|thread| thread.join().ok()))
    });
    let (identity, claims, module_hash) = verified?;
    let module_name = identity.name.clone();
    let (module, cache, artifact) = compile(
        cfg,
        metrics,
        &engine,
        &module_name,
        &module_hash,
        bytes,
        prefetched,
    )?;
    check_shape(&module, &module_name)?;
    tracing::info!(module = %module_name, signed = identity.signed, cache = ?cache, "module loaded");
    Ok(Loaded {
        engine,
        module,
        report: LoadReport {
            module: module_name,
            module_hash,
            signed: identity.signed,
            cache,
            artifact,
        },
        identity,
        claims,
    })
}

/// Checks the claims; returns who the module is, its claims, and its hash (see
/// [`LoadReport::module_hash`]).
fn verify(
    cfg: &LoadConfig,
    hint: &str,
    bytes: &[u8],
) -> Result<(Identity, Option<wascap::Claims>, String), LoadError> {
    let opts = wascap::VerifyOptions {
        trusted_issuers: cfg.trusted_issuers.clone(),
        required_caps: Vec::new(),
    };
    match wascap::verify(bytes, &opts) {
        Ok(verified) => {
            let claims = verified.claims;
            let identity = Identity {
                name: claims.name().to_string(),
                subject: claims.subject.clone(),
                caps: claims.caps().to_vec(),
                signed: true,
            };
            Ok((identity, Some(claims), verified.hash.to_ascii_lowercase()))
        }
        Err(wascap::VerifyError::Unsigned) if cfg.allow_unsigned => {
            tracing::warn!(module = %hint, "loading an unsigned module: it gets no capabilities");
            Ok((
                Identity {
                    name: hint.to_string(),
                    subject: String::new(),
                    caps: Vec::new(),
                    signed: false,
                },
                None,
                data_encoding::HEXLOWER.encode(&Sha256::digest(bytes)),
            ))
        }
        Err(wascap::VerifyError::Unsigned) => Err(LoadError::Unsigned {
            module: hint.to_string(),
        }),
        Err(reason) => Err(LoadError::Claims {
            module: hint.to_string(),
            reason,
        }),
    }
}

/// A cache entry fetched (and deserialised) under the hash the token claims.
struct Prefetched {
    key: String,
    fetched: Lookup<Module>,
}

/// Looks `key` up in the cache and deserialises what it holds; an artifact wasmer refuses
/// is a corrupt entry.
fn fetch(cache: &ArtifactCache, engine: &Engine, key: &str) -> Lookup<Module> {
    match cache.get(key) {
        Lookup::Hit(artifact) => match abi::deserialize_artifact(engine, artifact) {
            Ok(module) => Lookup::Hit(module),
            Err(e) => Lookup::Corrupt(format!("wasmer refused the cached artifact: {e}")),
        },
        Lookup::Miss => Lookup::Miss,
        Lookup::Corrupt(reason) => Lookup::Corrupt(reason),
    }
}

fn compile(
    cfg: &LoadConfig,
    metrics: &Metrics,
    engine: &Engine,
    name: &str,
    module_hash: &str,
    bytes: &[u8],
    prefetched: Option<Prefetched>,
) -> Result<(Module, CacheOutcome, Option<PathBuf>), LoadError> {
    let Some(cache) = &cfg.cache else {
        return Ok((
            compile_now(engine, name, bytes)?,
            CacheOutcome::Disabled,
            None,
        ));
    };
    let fetched = match prefetched {
        Some(p) if p.key == module_hash => p.fetched,
        _ => fetch(cache, engine, module_hash),
    };
    let reason = match fetched {
        Lookup::Hit(module) => {
            metrics.cache("hit");
            return Ok((module, CacheOutcome::Hit, Some(cache.path_for(module_hash))));
        }
        Lookup::Miss => None,
        Lookup::Corrupt(reason) => Some(reason),
    };
    if let Some(reason) = &reason {
        tracing::warn!(module = %name, %reason, "corrupt artifact cache entry; recompiling");
        cache.remove(module_hash);
    }
    let module = compile_now(engine, name, bytes)?;
    let stored = match module.serialize() {
        Ok(artifact) => match cache.put(module_hash, &artifact) {
            Ok(path) => Some(path),
            Err(e) => {
                tracing::warn!(module = %name, error = %e, "cannot write the artifact cache entry");
                None
            }
        },
        Err(e) => {
            tracing::warn!(module = %name, error = %e, "cannot serialise the compiled module");
            None
        }
    };
    let outcome = match reason {
        Some(reason) => {
            metrics.cache("recompiled");
            CacheOutcome::Recompiled { reason }
        }
        None => {
            metrics.cache("miss");
            CacheOutcome::Miss
        }
    };
    Ok((module, outcome, stored))
}

fn compile_now(engine: &Engine, name: &str, bytes: &[u8]) -> Result<Module, LoadError> {
    Module::new(engine, bytes).map_err(|e| LoadError::Compile {
        module: name.to_string(),
        message: e.to_string(),
    })
}

/// Checks imports and exports against the ABI before any instance exists, so a module that
/// is not a guest gets one precise message.
fn check_shape(module: &Module, name: &str) -> Result<(), LoadError> {
    for import in module.imports() {
        let known = import.module() == IMPORT_MODULE
            && matches!(import.name(), "host_call" | "log")
            && matches!(import.ty(), ExternType::Function(_));
        if !known {
            return Err(LoadError::Abi {
                module: name.to_string(),
                message: format!(
                    "imports `{}.{}`, which this host does not provide; guests may import only the functions `waxosuit.host_call` and `waxosuit.log`",
                    import.module(),
                    import.name()
                ),
            });
        }
    }
    let exports: Vec<String> = module.exports().map(|e| e.name().to_string()).collect();
    let missing: Vec<String> = REQUIRED_EXPORTS
        .iter()
        .filter(|(n, _)| !exports.iter().any(|e| e == n))
        .map(|(n, sig)| format!("`{n}` ({sig})"))
        .collect();
    if !missing.is_empty() {
        return Err(LoadError::Abi {
            module: name.to_string(),
            message: format!(
                "is missing the guest ABI exports {}; build it with the waxosuit guest SDK or export them by hand (see the ABI chapter)",
                missing.join(", ")
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Tests for the engine key of the artifact cache.

    use super::*;

    #[test]
    fn engine_key_names_version_target_and_fuel_and_is_path_safe() {
        let key = engine_key(&Limits::default());
        assert!(key.starts_with("wasmer-7.4.2-"), "{key}");
        assert!(key.ends_with("-metered1-fuel500000000"), "{key}");
        assert!(
            key.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)),
            "{key}"
        );
        let other = engine_key(&Limits {
            max_fuel_per_call: 7,
            ..Limits::default()
        });
        assert_ne!(key, other, "the compiled-in fuel must change the key");
        // The memory limit is applied at instantiation, not compiled in.
        let same = engine_key(&Limits {
            max_memory_bytes: 1 << 20,
            ..Limits::default()
        });
        assert_eq!(key, same);
    }
}
