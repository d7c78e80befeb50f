//! Claims enforcement: a guest may only use the capabilities its signed claims list.
//!
//! Every denial is logged (`tracing` warn, target `waxosuit::enforce`) and counted in
//! `waxosuit_capability_denials_total{module, capability}`.

use crate::metrics::Metrics;

/// Who a guest is, from its verified claims (or the lack of them).
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    /// The module's name (claims name, or a file name for an unsigned module).
    pub(crate) name: String,
    /// The subject key, empty when unsigned.
    pub(crate) subject: String,
    /// The capability ids the claims list; empty when unsigned.
    pub(crate) caps: Vec<String>,
    /// Whether the module carried verified claims.
    pub(crate) signed: bool,
}

/// A refused capability use, with the message to give the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Denial {
    pub(crate) message: String,
}

/// Checks that `identity` may use `capability`; records and explains a denial.
pub(crate) fn check(
    identity: &Identity,
    capability: &str,
    metrics: &Metrics,
) -> Result<(), Denial> {
    if identity.caps.iter().any(|c| c == capability) {
        return Ok(());
    }
    let flag = wascap::caps::short_name(capability).unwrap_or(capability);
    let message = if identity.signed {
        format!(
            "module `{}` calls `{capability}` but its claims do not list it; re-sign with `cargo wascap sign --cap {flag}`",
            identity.name
        )
    } else {
        format!(
            "module `{}` calls `{capability}` but it is unsigned and has no claims; sign it with `cargo wascap sign --cap {flag}`",
            identity.name
        )
    };
    tracing::warn!(
        target: "waxosuit::enforce",
        module = %identity.name,
        capability,
        "capability denied: {message}"
    );
    metrics.denial(&identity.name, capability);
    Err(Denial { message })
}

#[cfg(test)]
mod tests {
    //! Tests for capability enforcement.

    use super::*;

    fn identity(caps: &[&str], signed: bool) -> Identity {
        Identity {
            name: "probe".into(),
            subject: "M".into(),
            caps: caps.iter().map(|s| s.to_string()).collect(),
            signed,
        }
    }

    #[test]
    fn listed_capability_is_allowed_and_not_counted() {
        let m = Metrics::new();
        check(
            &identity(&["waxosuit:keyvalue"], true),
            "waxosuit:keyvalue",
            &m,
        )
        .unwrap();
        assert_eq!(m.denials_for("probe", "waxosuit:keyvalue"), 0);
    }

    #[test]
    fn unlisted_capability_is_denied_with_fix_and_counted() {
        let m = Metrics::new();
        let d = check(&identity(&[], true), "waxosuit:keyvalue", &m).unwrap_err();
        assert_eq!(
            d.message,
            "module `probe` calls `waxosuit:keyvalue` but its claims do not list it; re-sign with `cargo wascap sign --cap keyvalue`"
        );
        check(&identity(&[], true), "waxosuit:keyvalue", &m).unwrap_err();
        assert_eq!(m.denials_for("probe", "waxosuit:keyvalue"), 2);
    }

    #[test]
    fn unsigned_module_is_told_to_sign_and_custom_capability_keeps_its_id() {
        let m = Metrics::new();
        let d = check(&identity(&[], false), "acme:thing", &m).unwrap_err();
        assert!(d.message.contains("unsigned"), "{}", d.message);
        assert!(d.message.contains("--cap acme:thing"), "{}", d.message);
    }
}
