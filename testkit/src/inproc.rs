//! A service run in-process on a listener of the test's, stopped on demand.

use std::{future::Future, pin::Pin, time::Duration};

use tokio::{net::TcpListener, sync::oneshot};

/// Resolves when the test asks the service to stop.
pub type Stop = Pin<Box<dyn Future<Output = ()> + Send>>;

pub struct Running {
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    /// Starts `run(listener, stop)` and waits until `health` answers 200.
    pub async fn start<F, Fut>(listener: TcpListener, health: &str, run: F) -> Self
    where
        F: FnOnce(TcpListener, Stop) -> Fut,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let base = format!("http://{}", listener.local_addr().expect("bound"));
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(run(
            listener,
            Box::pin(async {
                let _ = stopped.await;
            }),
        ));
        let http = crate::http();
        let mut healthy = false;
        for _ in 0..400 {
            if let Ok(r) = http.get(format!("{base}{health}")).send().await
                && r.status() == 200
            {
                healthy = true;
                break;
            }
            assert!(!handle.is_finished(), "service failed to start");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(healthy, "{base}{health} did not answer 200 within 10 s");
        Self {
            base,
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    /// Stops the service gracefully and returns how its run ended.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.handle.take() {
            Some(h) => h.await.map_err(anyhow::Error::from)?,
            None => Ok(()),
        }
    }
}
