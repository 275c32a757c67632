//! The load generator behind `civictext bench`: signed Twilio webhooks for simulated residents
//! taking the youth survey, driven against a gateway on loopback, with latency statistics and a
//! check in the database that every acknowledged text was stored exactly once.

pub mod audit;
pub mod child;
pub mod console;
pub mod hello;
pub mod load;
pub mod outbox;
pub mod plan;
pub mod results;
pub mod stats;

/// Refuses any target that is not on this machine: the generator signs valid webhooks and could
/// otherwise flood a real gateway.
pub fn check_loopback(url: &str) -> anyhow::Result<()> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("--url must be http://127.0.0.1:PORT (got {url:?})"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        anyhow::bail!("refusing to load {url}: the benchmark only targets loopback addresses");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_accepted() {
        assert!(check_loopback("http://127.0.0.1:8080").is_ok());
        assert!(check_loopback("http://localhost:8080/x").is_ok());
        assert!(check_loopback("http://[::1]:8080").is_ok());
        assert!(check_loopback("http://10.0.0.1:8080").is_err());
        assert!(check_loopback("http://sms.example.gov").is_err());
        assert!(check_loopback("https://127.0.0.1:8080").is_err());
        assert!(check_loopback("http://127.0.0.1.example.com:80").is_err());
    }
}
