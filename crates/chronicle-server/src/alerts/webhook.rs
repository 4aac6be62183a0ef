//! Delivering alerts to rules' webhooks: a POST of the alert JSON, retried with exponential
//! backoff up to a bounded number of attempts. Deliveries run beside the evaluator, so a slow
//! or dead receiver never delays evaluation; at most `max_deliveries` run at once, and an
//! alert beyond that is not delivered (it is still recorded and streamed).

use crate::AlertSettings;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Only plain-HTTP URLs are accepted: the server's HTTP client is built without TLS.
pub fn check_url(url: &str) -> Result<(), String> {
    if url.len() > 2048 {
        return Err("must be at most 2048 bytes".into());
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("is not a URL ({e})"))?;
    if parsed.scheme() != "http" {
        return Err("must be an http:// URL (this server is built without TLS)".into());
    }
    if parsed.host_str().is_none() || !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must name a host and no credentials".into());
    }
    Ok(())
}

/// The wait after failed attempt `attempt` (0-based): `base · 2^attempt`, at most a minute.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(2u32.saturating_pow(attempt))
        .min(MAX_BACKOFF)
}

pub struct Webhooks {
    client: reqwest::Client,
    attempts: u32,
    base: Duration,
    slots: Arc<Semaphore>,
}

impl Webhooks {
    pub fn new(settings: &AlertSettings) -> Webhooks {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.webhook_timeout_secs))
            // A redirect could point the server at any address; receivers answer directly.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client without TLS builds");
        Webhooks {
            client,
            attempts: settings.webhook_attempts.max(1),
            base: Duration::from_millis(settings.webhook_backoff_ms),
            slots: Arc::new(Semaphore::new(settings.max_deliveries.max(1))),
        }
    }

    /// Starts delivering `body` to `url` in the background.
    pub fn deliver(&self, url: String, body: String) {
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            tracing::warn!(
                url,
                "alerts: too many webhook deliveries in flight; not delivered"
            );
            crate::metrics::record_webhook(false);
            return;
        };
        let (client, attempts, base) = (self.client.clone(), self.attempts, self.base);
        tokio::spawn(async move {
            let delivered = deliver(&client, &url, body, attempts, base).await;
            crate::metrics::record_webhook(delivered);
            drop(slot);
        });
    }
}

/// Whether a 2xx answer came within `attempts` attempts.
async fn deliver(
    client: &reqwest::Client,
    url: &str,
    body: String,
    attempts: u32,
    base: Duration,
) -> bool {
    for attempt in 0..attempts {
        let sent = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => return true,
            Ok(r) => tracing::warn!(url, attempt, status = %r.status(), "alerts: webhook refused"),
            Err(e) => tracing::warn!(url, attempt, error = %e, "alerts: webhook unreachable"),
        }
        if attempt + 1 < attempts {
            tokio::time::sleep(backoff(base, attempt)).await;
        }
    }
    tracing::warn!(url, attempts, "alerts: webhook given up");
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_up_to_a_minute() {
        let base = Duration::from_millis(500);
        let waits: Vec<_> = (0..4).map(|a| backoff(base, a).as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000]);
        assert_eq!(backoff(base, 40), MAX_BACKOFF);
    }

    #[test]
    fn only_plain_http_urls_with_a_host_are_accepted() {
        assert!(check_url("http://127.0.0.1:9000/hook").is_ok());
        for bad in [
            "https://example.com/",
            "ftp://x/",
            "not a url",
            "http://u:p@h/",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
