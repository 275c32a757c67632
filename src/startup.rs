//! Building and running the gateway: `Application::build` binds the port (0 in tests) and wires
//! the store, the flows and the router together.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::http::StatusCode;
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;

use crate::config::{Settings, TWILIO_WEBHOOK_TIMEOUT_SECS};
use crate::gateway::reload::{self, Loader};
use crate::gateway::{FlowSet, Gateway, Replies};
use crate::http::server::ConnectionLimits;
use crate::http::{self, AppState, WebhookAuth};
use crate::privacy::{Pseudonyms, pseudonym};
use crate::store::Store;
use crate::telemetry::{self, Placement};

/// A gateway bound to its port, ready to run.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    limits: ConnectionLimits,
    gateway: Arc<Gateway>,
    reload: tokio::task::JoinHandle<()>,
    /// The retention job, when `retention_days` is set.
    retention: Option<tokio::task::JoinHandle<()>>,
    /// Refreshes SQLite's query planner statistics as the data grows (PostgreSQL's autovacuum
    /// does it there).
    statistics: Option<tokio::task::JoinHandle<()>>,
    outbound: Option<crate::outbound::OutboundHandle>,
    /// The listener serving only `/metrics`, when `metrics_bind` is set.
    metrics: Option<TcpListener>,
    /// The session sweep (reminders, expiry) and how to stop it.
    sweep: (
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    ),
}

impl Application {
    /// Connects the database, loads the flows and binds the listener.
    pub async fn build(settings: &Settings) -> anyhow::Result<Application> {
        settings.validate()?;
        settings.check_flows_dir()?;
        let store = Store::connect(&settings.database_url)
            .await
            .with_context(|| {
                format!(
                    "cannot open database {}",
                    redact_url(&settings.database_url)
                )
            })?;
        Application::build_with_store(settings, store).await
    }

    /// Like [`Application::build`], on a store the caller opened.
    pub async fn build_with_store(
        settings: &Settings,
        store: Store,
    ) -> anyhow::Result<Application> {
        settings.validate()?;
        if settings.twilio_auth_token.is_none() {
            tracing::warn!(
                "TWILIO_AUTH_TOKEN is not set: webhook signatures are NOT being checked. \
                 Listening on loopback only; set TWILIO_AUTH_TOKEN and CIVICTEXT_PUBLIC_URL for production."
            );
        }
        if settings.webhook_deadline >= TWILIO_WEBHOOK_TIMEOUT_SECS {
            tracing::warn!(
                deadline = settings.webhook_deadline,
                "CIVICTEXT_WEBHOOK_DEADLINE is not below Twilio's {TWILIO_WEBHOOK_TIMEOUT_SECS} s: \
                 a text may be stored after Twilio stopped waiting for the answer"
            );
        }
        let mut loader = Loader::new(&settings.flows);
        let recorded = store.load_flow_versions().await?;
        loader.remember(&recorded);
        let loaded = loader
            .load()?
            .context("the flows directory could not be read")?;
        reload::import(&store, &loaded)
            .await
            .context("recording the flows directory's versions")?;
        loader.mark_recorded(&loaded.unrecorded);
        let (served, flows) = reload::Served::load(&store, &FlowSet::default(), loaded.errors)
            .await
            .context("reading the published flows")?;
        if flows.catalog().flows().is_empty() {
            tracing::warn!(dir = %settings.flows.display(), "no flows loaded: every text will get the default reply");
        }
        for f in flows.catalog().flows() {
            tracing::info!(flow = %f.id, version = %f.version, keywords = ?f.keywords.iter().map(|k| &k.word).collect::<Vec<_>>(), "flow loaded");
        }
        let time_zone = match &settings.time_zone {
            Some(name) => jiff::tz::TimeZone::get(name)
                .with_context(|| format!("unknown time zone {name:?}"))?,
            None => jiff::tz::TimeZone::system(),
        };
        let replies = replies(settings);
        if replies.help_contact != crate::gateway::replies::DEFAULT_HELP_CONTACT
            && !replies.help_contact_by_language.contains_key("es")
        {
            tracing::warn!(
                help_contact = %replies.help_contact,
                "help_contact has no Spanish text: Spanish HELP replies will quote it as written; \
                 set help_contact_by_language.es (CIVICTEXT_HELP_CONTACT_ES)"
            );
        }
        // Installed before anything is counted, so the first texts are in the figures.
        telemetry::handle();
        telemetry::record_flows(
            flows.catalog().flows().len(),
            reload::broken_files(&served.errors()),
        );
        let pseudonyms = pseudonyms(settings, &store).await?;
        let outbound = crate::outbound::start(settings, &store, time_zone.clone())?;
        let retention = settings.retention_days.map(|days| {
            tokio::spawn(crate::privacy::retention::run(
                store.clone(),
                days,
                crate::privacy::retention::EVERY,
            ))
        });
        let statistics = matches!(store, Store::Sqlite(_))
            .then(|| tokio::spawn(refresh_statistics(store.clone(), STATISTICS_EVERY)));
        let gateway = Arc::new(Gateway::new(store, flows, replies, time_zone));
        gateway.set_flow_errors(served.errors());
        let (stop_sweep, sweep_stopped) = tokio::sync::watch::channel(false);
        let sweep = tokio::spawn(crate::gateway::sweep::run(
            gateway.clone(),
            Arc::new(crate::outbound::worker::SystemClock),
            Duration::from_secs(settings.sweep_interval),
            sweep_stopped,
        ));
        let reload = tokio::spawn(reload::watch(
            gateway.clone(),
            loader,
            served,
            Duration::from_secs(settings.reload_interval),
        ));
        let state = AppState {
            gateway: gateway.clone(),
            webhook: Arc::new(WebhookAuth {
                auth_token: settings.twilio_auth_token.clone(),
                public_url: settings
                    .public_url
                    .as_ref()
                    .map(|u| u.trim_end_matches('/').to_string()),
                account_sid: settings.twilio_account_sid.clone(),
            }),
            pseudonyms,
            webhook_deadline: Duration::from_secs(settings.webhook_deadline),
            console: Arc::new(crate::console::ConsoleSettings {
                secure_cookies: settings
                    .public_url
                    .as_deref()
                    .is_some_and(|u| u.starts_with("https://")),
                flows_dir: Some(settings.flows.clone()),
                sending: crate::outbound::sending_configured(settings),
                quiet_hours: crate::outbound::quiet_hours::parse_setting(&settings.quiet_hours)?,
                ..Default::default()
            }),
        };
        let listener = TcpListener::bind(settings.bind)
            .await
            .with_context(|| format!("cannot listen on {}", settings.bind))?;
        let metrics_store = gateway.store.clone();
        let mut router = http::router(state);
        let mut metrics = None;
        match telemetry::placement(settings.bind, settings.metrics_bind) {
            Placement::MainListener => router = router.merge(telemetry::router(metrics_store)),
            Placement::OwnListener(addr) => {
                metrics = Some(
                    TcpListener::bind(addr)
                        .await
                        .with_context(|| format!("cannot listen on {addr} (metrics_bind)"))?,
                );
            }
            Placement::Off => tracing::warn!(
                bind = %settings.bind,
                "metrics are not served: the gateway listens beyond loopback; set metrics_bind \
                 (CIVICTEXT_METRICS_BIND), e.g. 127.0.0.1:9464, to serve GET /metrics there"
            ),
        }
        let router = router.layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(settings.request_timeout),
        ));
        let wanted = ConnectionLimits {
            header_read_timeout: Duration::from_secs(settings.header_read_timeout),
            max_connections: settings.max_connections,
        };
        let limits = match rlimit::getrlimit(rlimit::Resource::NOFILE) {
            Ok((soft, _)) => wanted.fitted_to(soft),
            Err(_) => wanted,
        };
        if limits.max_connections < wanted.max_connections {
            tracing::warn!(
                max_connections = limits.max_connections,
                configured = wanted.max_connections,
                "the open-files limit (ulimit -n) is too low for CIVICTEXT_MAX_CONNECTIONS: \
                 serving fewer connections at once"
            );
        }
        Ok(Application {
            listener,
            router,
            limits,
            gateway,
            reload,
            retention,
            statistics,
            outbound,
            metrics,
            sweep: (stop_sweep, sweep),
        })
    }

    /// The address `GET /metrics` has a listener of its own on, if it has one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The gateway behind the router.
    pub fn gateway(&self) -> Arc<Gateway> {
        self.gateway.clone()
    }

    /// Serves until `shutdown` completes, then stops accepting, finishes in-flight requests and
    /// returns.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let metrics = self.metrics.map(|listener| {
            let router = telemetry::router(self.gateway.store.clone());
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            })
        });
        http::server::serve(self.listener, self.router, self.limits, shutdown).await;
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        self.reload.abort();
        if let Some(retention) = self.retention {
            retention.abort();
        }
        if let Some(statistics) = self.statistics {
            statistics.abort();
        }
        let (stop_sweep, sweep) = self.sweep;
        let _ = stop_sweep.send(true);
        let _ = sweep.await;
        if let Some(outbound) = self.outbound {
            outbound.stop().await;
        }
        Ok(())
    }

    /// Serves until SIGTERM or Ctrl-C.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

/// Completes on SIGTERM (how orchestrators stop a process) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// The pseudonyms of this installation: under `pseudonym_key` when configured, otherwise under
/// a key generated on first start and stored in the database (so every replica agrees).
pub async fn pseudonyms(settings: &Settings, store: &Store) -> anyhow::Result<Pseudonyms> {
    let key = match &settings.pseudonym_key {
        Some(key) => key.clone(),
        None => store
            .installation_secret(pseudonym::KEY_NAME, &Pseudonyms::generate_key())
            .await
            .context("cannot read or store the pseudonym key")?,
    };
    Ok(Pseudonyms::new(&key))
}

fn redact_url(url: &str) -> String {
    match url.split_once('@') {
        Some((scheme_user, host)) => {
            let scheme = scheme_user.split("://").next().unwrap_or("db");
            format!("{scheme}://(hidden)@{host}")
        }
        None => url.to_string(),
    }
}

/// The gateway's own texts as `settings` word them (organisation name, help contact).
pub fn replies(settings: &Settings) -> Replies {
    Replies {
        organization: settings.organization.clone(),
        help_contact: settings.help_contact.clone(),
        organization_by_language: settings.organization_by_language.clone(),
        help_contact_by_language: settings.help_contact_by_language.clone(),
    }
}

/// How often the planner's statistics are looked at (SQLite suggests hourly to daily).
const STATISTICS_EVERY: Duration = Duration::from_secs(3600);

/// Keeps the planner's statistics fresh while the gateway runs; opening the store already did
/// it once. A failure is logged and tried again next time: stale statistics slow queries down
/// but break nothing.
async fn refresh_statistics(store: Store, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        if let Err(e) = store.refresh_statistics().await {
            tracing::warn!(error = %e, "could not refresh the query planner's statistics");
        }
    }
}
