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
    /// Parses `url`: `redis://[user[:password]@]host[:port][/db]`, or
    /// `redis+unix:///path/to.sock[?db=N&user=..&pass=..]`. `rediss://`
    /// (TLS) is recognised and refused with the reason: this build has no
    /// TLS support.
    pub(crate) fn parse(url: &str) -> Result<RedisUrl, SharedTierError> {
        let redacted = redact(url);
        let scheme = url.split_once("://").map(|(scheme, _)| scheme);
        match scheme {
            Some("redis" | "redis+unix") => {}
            Some("rediss") => {
                return Err(SharedTierError::Url {
                    url: redacted,
                    reason: "TLS (`rediss://`) is not supported by this build of memo; use \
                             `redis://` on a trusted network, or `redis+unix://`"
                        .into(),
                });
            }
            _ => {
                return Err(SharedTierError::Url {
                    url: redacted,
                    reason: "the scheme must be `redis://` or `redis+unix://`".into(),
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
}

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
        for bad in [
            "http://127.0.0.1",
            "127.0.0.1:6379",
            "rediss://u:s3cret@host",
            "redis://u:s3cret@host:notaport",
        ] {
            let err = RedisUrl::parse(bad).unwrap_err().to_string();
            assert!(!err.contains("s3cret"), "{err}");
        }
    }
}
