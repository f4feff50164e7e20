//! The harness's own requests (seeding, sanity checks, start-up polling, the timed sequential
//! requests of the login and list scenarios): reqwest on a current-thread runtime, one
//! keep-alive client per thread. The load itself comes from wrk and oha.

use std::{net::SocketAddr, time::Duration};

pub struct Response {
    pub status: u16,
    pub body: String,
}

thread_local! {
    static CLIENT: (tokio::runtime::Runtime, reqwest::Client) = (
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime"),
        // A connection kept idle through a scenario can be closed under it (see `request`):
        // keep none that long.
        reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_idle_timeout(Duration::from_secs(1))
            .build()
            .expect("a reqwest client"),
    );
}

/// One request with a JSON body (or none) and extra headers.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> anyhow::Result<Response> {
    let send = || -> anyhow::Result<Response> {
        CLIENT.with(|(rt, client)| {
            let mut req = client.request(method.parse()?, format!("http://{addr}{path}"));
            for (name, value) in headers {
                req = req.header(*name, *value);
            }
            if let Some(body) = body {
                req = req
                    .header("content-type", "application/json")
                    .body(body.to_owned());
            }
            rt.block_on(async {
                let r = req.send().await?;
                let status = r.status().as_u16();
                Ok(Response {
                    status,
                    body: r.text().await?,
                })
            })
        })
    };
    match send() {
        // A reused connection that closed as the request went out: a GET is safe to send
        // again once, on a fresh connection.
        Err(e)
            if method == "GET"
                && e.downcast_ref::<reqwest::Error>()
                    .is_some_and(|e| e.is_request()) =>
        {
            send()
        }
        other => other,
    }
}
