//! Where clients come from: the providers' variables, or an in-process sandbox.

use std::time::Duration;

use pixmill::client::{KeyConfig, KeyedService};
use pixmill::ops::{Providers, Task, offers};
use pixmill::{ClientBuilder, PollPolicy, Provider};
use pixmill_sandbox::{Sandbox, SandboxConfig};

use crate::batch::Failed;

/// How long sandbox jobs run, and how often they are polled: short, so runs are quick.
const SANDBOX_JOB: Duration = Duration::from_millis(50);

/// The credentials and servers of a run. One client per provider is built from it and shared
/// by every item, so each provider's rate limits hold across the batch.
pub enum Setup {
    /// The providers' own variables, read by each client's `from_env()`. A dry run builds no
    /// client, so it needs none of them.
    Env { dry_run: bool },
    /// A sandbox living as long as the run.
    Sandbox(Box<Sandbox>),
}

impl Setup {
    /// A sandbox on a free loopback port, with quick jobs.
    pub async fn sandbox() -> anyhow::Result<Setup> {
        let config = SandboxConfig {
            hitpaw_job_duration: SANDBOX_JOB,
            perfect_task_duration: SANDBOX_JOB,
            perfect_polling_interval: SANDBOX_JOB,
            ..SandboxConfig::default()
        };
        let sandbox = Sandbox::start_with(config)
            .await
            .map_err(|e| anyhow::anyhow!("cannot start the sandbox: {e}"))?;
        Ok(Setup::Sandbox(Box::new(sandbox)))
    }

    fn sandbox_var(&self, name: &str) -> Option<String> {
        match self {
            Setup::Sandbox(sandbox) => sandbox
                .env_vars()
                .into_iter()
                .find(|(var, _)| *var == name)
                .map(|(_, value)| value),
            Setup::Env { .. } => None,
        }
    }

    /// A client built by `build`, unless this is a dry run without a sandbox, which sends
    /// nothing and so needs no credentials.
    pub fn client<C>(&self, build: fn(&Setup) -> pixmill::Result<C>) -> anyhow::Result<Lazy<C>> {
        if matches!(self, Setup::Env { dry_run: true }) {
            return Ok(Lazy(None));
        }
        Ok(Lazy(Some(build(self)?)))
    }

    /// The client of a provider authenticated by one key.
    pub fn keyed<S: KeyedService>(&self) -> pixmill::Result<S::Client> {
        let builder = match self {
            Setup::Env { .. } => ClientBuilder::<KeyConfig<S>>::from_env()?,
            Setup::Sandbox(_) => {
                let mut builder = ClientBuilder::<KeyConfig<S>>::default()
                    .poll_policy(PollPolicy::new(SANDBOX_JOB));
                if let Some(key) = self.sandbox_var(S::KEY_VAR) {
                    builder = builder.api_key(key);
                }
                if let Some(url) = self.sandbox_var(S::BASE_URL_VAR) {
                    builder = builder.base_url(url);
                }
                builder
            }
        };
        builder.build()
    }

    pub fn hotpot(&self) -> pixmill::Result<pixmill::hotpot::Client> {
        self.keyed::<pixmill::hotpot::Service>()
    }

    pub fn hitpaw(&self) -> pixmill::Result<pixmill::hitpaw::Client> {
        self.keyed::<pixmill::hitpaw::Service>()
    }

    pub fn segmind(&self) -> pixmill::Result<pixmill::segmind::Client> {
        self.keyed::<pixmill::segmind::Service>()
    }

    pub fn perfect_v2(&self) -> pixmill::Result<pixmill::perfect::v2::Client> {
        self.keyed::<pixmill::perfect::v2::Service>()
    }

    /// The client of Perfect's older API (a client id and an RSA secret).
    pub fn perfect(&self) -> pixmill::Result<pixmill::perfect::Client> {
        match self {
            Setup::Env { .. } => pixmill::perfect::ClientBuilder::from_env()?.build(),
            Setup::Sandbox(sandbox) => {
                let credentials = sandbox.credentials();
                pixmill::perfect::Client::builder()
                    .client_id(credentials.perfect_client_id.clone())
                    .client_secret(credentials.perfect_client_secret.clone())
                    .base_url(sandbox.base_url(pixmill_sandbox::Provider::Perfect))
                    .poll_policy(PollPolicy::new(SANDBOX_JOB))
                    .build()
            }
        }
    }

    /// Whether Perfect's current API has its key here (the sandbox always exports one).
    fn has_perfect_v2_key(&self) -> bool {
        match self {
            Setup::Sandbox(_) => true,
            Setup::Env { .. } => std::env::var_os(pixmill::perfect::v2::Service::KEY_VAR)
                .is_some_and(|value| !value.is_empty()),
        }
    }

    /// A provider's client for [`Providers`]. `perfect` is the current API when its key is
    /// set, as in [`Providers::from_env`], and the older one otherwise.
    fn provider(&self, provider: Provider) -> pixmill::Result<pixmill::ops::ProviderClient> {
        Ok(match provider {
            Provider::Hotpot => self.hotpot()?.into(),
            Provider::Hitpaw => self.hitpaw()?.into(),
            Provider::Segmind => self.segmind()?.into(),
            Provider::Perfect if self.has_perfect_v2_key() => self.perfect_v2()?.into(),
            Provider::Perfect => self
                .perfect()
                .map_err(|error| match error {
                    pixmill::Error::Config(pixmill::ConfigError::MissingVariable(_)) => {
                        pixmill::ConfigError::MissingVariable(
                            "PERFECT_API_KEY (or PERFECT_CLIENT_ID and PERFECT_CLIENT_SECRET)",
                        )
                        .into()
                    }
                    other => other,
                })?
                .into(),
            Provider::PerfectV2 => self.perfect_v2()?.into(),
            other => {
                return Err(pixmill::ConfigError::Invalid(format!(
                    "{other} runs no unified task; use `pixmill {} ...`",
                    other.id()
                ))
                .into());
            }
        })
    }

    /// The providers to run `task` with: the ones named, in that order (each must have its
    /// credentials), or else every provider offering it that has credentials here. An error
    /// names the variables that are missing.
    pub fn providers(
        &self,
        task: Task,
        named: &[Provider],
    ) -> anyhow::Result<(Providers, Vec<Provider>)> {
        // Either Perfect API offering the task makes `perfect` able; which API runs it is
        // decided by the credentials (see `provider`).
        let mut able: Vec<Provider> = Vec::new();
        for offer in offers(task) {
            let provider = match offer.provider {
                Provider::PerfectV2 => Provider::Perfect,
                other => other,
            };
            if !able.contains(&provider) {
                able.push(provider);
            }
        }
        let mut providers = Providers::new();
        if !named.is_empty() {
            for provider in named {
                let able_here = able.contains(provider)
                    || (*provider == Provider::PerfectV2
                        && offers(task)
                            .iter()
                            .any(|o| o.provider == Provider::PerfectV2));
                if !able_here {
                    anyhow::bail!(
                        "{provider} cannot {task}; providers that can: {}",
                        names(&able)
                    );
                }
                let client = self
                    .provider(*provider)
                    .map_err(|e| anyhow::anyhow!("{provider}: {e}"))?;
                providers = providers.with(client);
            }
            return Ok((providers, named.to_vec()));
        }
        let mut missing = Vec::new();
        for provider in &able {
            match self.provider(*provider) {
                Ok(client) => providers = providers.with(client),
                Err(pixmill::Error::Config(pixmill::ConfigError::MissingVariable(var))) => {
                    missing.push(format!("{provider} needs {var}"));
                }
                Err(error) => anyhow::bail!("{provider}: {error}"),
            }
        }
        let preference = providers.available(task);
        if preference.is_empty() {
            anyhow::bail!(
                "no provider can {task} here: {} (or run with --sandbox)",
                missing.join("; ")
            );
        }
        Ok((providers, preference))
    }
}

/// A client, or none in a dry run.
#[derive(Clone)]
pub struct Lazy<C>(Option<C>);

impl<C> Lazy<C> {
    pub fn get(&self) -> Result<&C, Failed> {
        self.0
            .as_ref()
            .ok_or_else(|| Failed::local("a dry run sends nothing"))
    }
}

pub fn names(providers: &[Provider]) -> String {
    let names: Vec<String> = providers.iter().map(|p| p.id().to_string()).collect();
    names.join(", ")
}
