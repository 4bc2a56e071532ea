//! Redis URLs: which schemes the tier takes, and how a URL is shown without
//! its password.

use std::fmt;

use super::SharedTierError;

/// A parsed Redis URL: what to connect to, and a form safe to print.
#[derive(Clone)]
pub(crate) struct RedisUrl {
    pub(crate) info: redis::ConnectionInfo,
    /// The URL with its password replaced by `***`.
    redacted: String,
}

impl RedisUrl {
    /// Parses `url`: `redis://[user[:password]@]host[:port][/db]`,
    /// `rediss://…` (the same over TLS, feature `redis-tls`), or
    /// `redis+unix:///path/to.sock[?db=N&user=..&pass=..]`.
    pub(crate) fn parse(url: &str) -> Result<RedisUrl, SharedTierError> {
        let redacted = redact(url);
        let scheme = url.split_once("://").map(|(scheme, _)| scheme);
        match scheme {
            Some("redis" | "redis+unix") => {}
            #[cfg(feature = "redis-tls")]
            Some("rediss") => {
                if url.contains('#') {
                    return Err(SharedTierError::Url {
                        url: redacted,
                        reason: "memo always checks the server's certificate, so `#insecure` \
                                 is refused; give a private authority's root with \
                                 `SharedTierBuilder::tls_root_certificates`"
                            .into(),
                    });
                }
            }
            #[cfg(not(feature = "redis-tls"))]
            Some("rediss") => {
                return Err(SharedTierError::Url {
                    url: redacted,
                    reason: TLS_NOT_BUILT.into(),
                });
            }
            _ => {
                return Err(SharedTierError::Url {
                    url: redacted,
                    reason: "the scheme must be `redis://`, `rediss://` or `redis+unix://`".into(),
                });
            }
        }
        let info = redis::IntoConnectionInfo::into_connection_info(url).map_err(|err| {
            SharedTierError::Url {
                url: redacted.clone(),
                // The driver's message does not repeat the URL.
                reason: err.to_string(),
            }
        })?;
        Ok(RedisUrl { info, redacted })
    }

    /// Whether the connection is TLS (`rediss://`).
    pub(crate) fn is_tls(&self) -> bool {
        !matches!(
            self.info.addr(),
            redis::ConnectionAddr::Tcp(..) | redis::ConnectionAddr::Unix(..)
        )
    }
}

/// Why `rediss://` is refused by a build without the feature `redis-tls`.
#[cfg(not(feature = "redis-tls"))]
pub(crate) const TLS_NOT_BUILT: &str = "TLS (`rediss://`) needs the feature `redis-tls` of \
                                        memo-runtime; enable it, or use `redis://` on a trusted \
                                        network, or `redis+unix://`";

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted)
    }
}

/// `url` with the password of its user info (`user:password@`) and the
/// values of `pass`/`password` query parameters replaced by `***`. Works on
/// malformed URLs too, so that error messages never carry a secret.
pub(crate) fn redact(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let (authority_and_path, query) = match rest.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (rest, None),
    };
    let mut out = String::with_capacity(url.len());
    if let Some(scheme) = scheme {
        out.push_str(scheme);
        out.push_str("://");
    }
    // The user info ends at the last `@` before the path.
    let authority_end = authority_and_path
        .find('/')
        .unwrap_or(authority_and_path.len());
    let (authority, path) = authority_and_path.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            match user_info.split_once(':') {
                Some((user, _password)) => {
                    out.push_str(user);
                    out.push_str(":***");
                }
                None => out.push_str(user_info),
            }
            out.push('@');
            out.push_str(host);
        }
        None => out.push_str(authority),
    }
    out.push_str(path);
    if let Some(query) = query {
        out.push('?');
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((name, _)) if matches!(name, "pass" | "password") => format!("{name}=***"),
                _ => param.to_owned(),
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_wherever_they_are() {
        assert_eq!(
            redact("redis://ada:s3cret@10.0.0.5:6379/2"),
            "redis://ada:***@10.0.0.5:6379/2"
        );
        assert_eq!(redact("redis://:s3cret@host/0"), "redis://:***@host/0");
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
        assert_eq!(
            redact("redis+unix:///run/redis.sock?db=1&pass=s3cret"),
            "redis+unix:///run/redis.sock?db=1&pass=***"
        );
        assert_eq!(redact("nonsense:s3cret@x"), "nonsense:***@x");
    }

    #[test]
    fn the_three_schemes_parse_and_others_are_refused() {
        let tcp = RedisUrl::parse("redis://ada:s3cret@127.0.0.1:6390/3").unwrap();
        assert_eq!(tcp.info.redis_settings().db(), 3);
        assert_eq!(tcp.info.redis_settings().password(), Some("s3cret"));
        assert!(!format!("{tcp} {tcp:?}").contains("s3cret"));
        assert!(RedisUrl::parse("redis+unix:///tmp/redis.sock").is_ok());
        assert!(!tcp.is_tls());
        for bad in [
            "http://127.0.0.1",
            "127.0.0.1:6379",
            "rediss://u:s3cret@host/#insecure",
            "redis://u:s3cret@host:notaport",
        ] {
            let err = RedisUrl::parse(bad).unwrap_err().to_string();
            assert!(!err.contains("s3cret"), "{err}");
        }
    }

    #[cfg(feature = "redis-tls")]
    #[test]
    fn tls_urls_parse_with_the_feature() {
        let tls = RedisUrl::parse("rediss://ada:s3cret@127.0.0.1:6390/1").unwrap();
        assert!(tls.is_tls());
        assert_eq!(tls.info.redis_settings().db(), 1);
        assert!(!format!("{tls} {tls:?}").contains("s3cret"));
        let insecure = RedisUrl::parse("rediss://127.0.0.1/#insecure").unwrap_err();
        assert!(
            insecure.to_string().contains("tls_root_certificates"),
            "{insecure}"
        );
    }

    #[cfg(not(feature = "redis-tls"))]
    #[test]
    fn tls_urls_name_the_feature_without_it() {
        let err = RedisUrl::parse("rediss://u:s3cret@host")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("redis-tls") && !err.contains("s3cret"),
            "{err}"
        );
    }
}
