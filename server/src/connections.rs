//! Connections: accepting them up to a cap, the time a client may take over a request's head
//! and body, and closing them gracefully on shutdown.
//!
//! Every input from the network has a time limit: a request's head (and an idle keep-alive
//! connection's next one) must arrive within [`Limits::header_timeout`], its body within
//! [`Limits::body_timeout`] (else `408 request_timeout`); at most
//! [`Limits::max_connections`] are open at once (more are closed as they arrive, so those
//! already open keep being served); and a response to a request whose body was not read to
//! its end says `Connection: close`, so the client does not send its next request into
//! leftovers.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::Request;
use axum::response::Response;
use http_body::{Body as _, Frame, SizeHint};

/// How long clients may take and how many connections may be open.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time to send a request's head, counted from the connection's first byte or the end
    /// of its previous response (so an idle keep-alive connection is closed after it too).
    pub header_timeout: Duration,
    /// Time to send a request's whole body, from when the server starts reading it.
    pub body_timeout: Duration,
    /// Connections open at once; a connection over the cap is closed as it arrives. Lowered
    /// to fit the process's file limit when serving starts.
    pub max_connections: usize,
    /// After the shutdown signal, how long requests in flight may take to finish.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Raises the process's soft limit on open files to its hard limit, and returns the
/// connection cap that fits under it: 64 descriptors are kept for the database pool, Redis,
/// outbound calls and files.
fn fit_to_file_limit(wanted: usize) -> usize {
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    let room = usize::try_from(limit)
        .unwrap_or(usize::MAX)
        .saturating_sub(64);
    wanted.min(room).max(1)
}

/// The bytes a client sends first on an HTTP/2 connection without TLS.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether the client sent enough to tell HTTP/1 from HTTP/2 within `within`: hyper's
/// version detection itself waits without a limit.
async fn first_bytes(stream: &tokio::net::TcpStream, within: Duration) -> bool {
    let wait = async {
        let mut buf = [0u8; 24];
        loop {
            let n = stream.peek(&mut buf).await?;
            if n == 0 {
                return Ok::<bool, std::io::Error>(false);
            }
            if n >= H2_PREFACE.len() || buf[..n] != H2_PREFACE[..n] {
                return Ok(true);
            }
            // Part of the preface: wait for the rest.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    matches!(tokio::time::timeout(within, wait).await, Ok(Ok(true)))
}

/// Serves `router` on `listener` until `shutdown` resolves, within `limits`; then lets
/// requests in flight finish for up to `limits.shutdown_grace`.
pub async fn serve(
    router: axum::Router,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: Limits,
) -> anyhow::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.header_timeout)
        .keep_alive_timeout(limits.header_timeout);
    let builder = Arc::new(builder);
    let permits = Arc::new(tokio::sync::Semaphore::new(fit_to_file_limit(
        limits.max_connections,
    )));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or similar: pause rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!(%remote, "connection cap reached; closing the new connection");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = connection_service(router.clone(), limits, remote);
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            if !first_bytes(&stream, header_timeout).await {
                return;
            }
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!(
                grace_seconds = limits.shutdown_grace.as_secs(),
                "connections still open after the shutdown grace period; exiting"
            );
        }
    }
    Ok(())
}

/// The router as hyper calls it for one connection, with the client's address available as
/// `ConnectInfo`.
fn connection_service(
    router: axum::Router,
    limits: Limits,
    remote: SocketAddr,
) -> hyper_util::service::TowerToHyperService<
    impl tower::Service<
        http::Request<hyper::body::Incoming>,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future = impl Send,
    > + Clone,
> {
    let service = tower::ServiceExt::map_request(
        ReadLimits {
            inner: router,
            limits,
        },
        move |mut request: http::Request<hyper::body::Incoming>| {
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(remote));
            request.map(axum::body::Body::new)
        },
    );
    hyper_util::service::TowerToHyperService::new(service)
}

/// Why a body could not be read: it did not arrive within the body timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {} s", .0.as_secs())]
pub struct BodyTimedOut(pub Duration);

/// Whether the error from reading a body is [`BodyTimedOut`].
pub fn timed_out(error: &axum::Error) -> Option<&BodyTimedOut> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(timed_out) = e.downcast_ref::<BodyTimedOut>() {
            return Some(timed_out);
        }
        source = e.source();
    }
    None
}

/// Puts a deadline on a request's body and, when the handler did not read it to its end,
/// answers with `Connection: close`. A request without a body passes straight through.
#[derive(Clone)]
struct ReadLimits<S> {
    inner: S,
    limits: Limits,
}

impl<S> tower::Service<Request> for ReadLimits<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = futures::future::Either<S::Future, crate::edge::ResponseFuture>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if request.body().is_end_stream() {
            return futures::future::Either::Left(self.inner.call(request));
        }
        let mut inner = crate::edge::take_ready(&mut self.inner);
        let finished = Arc::new(AtomicBool::new(false));
        let request = request.map(|body| {
            axum::body::Body::new(Limited {
                body,
                deadline: None,
                after: self.limits.body_timeout,
                finished: finished.clone(),
            })
        });
        futures::future::Either::Right(Box::pin(async move {
            let Ok(mut response) = inner.call(request).await;
            if !finished.load(Ordering::Acquire) {
                response.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
            }
            Ok(response)
        }))
    }
}

/// A request body with a deadline that starts when it is first read, and that records
/// whether it was read to its end.
struct Limited {
    body: axum::body::Body,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    after: Duration,
    finished: Arc<AtomicBool>,
}

impl http_body::Body for Limited {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(None) => {
                this.finished.store(true, Ordering::Release);
                Poll::Ready(None)
            }
            Poll::Ready(Some(frame)) => {
                if this.body.is_end_stream() {
                    this.finished.store(true, Ordering::Release);
                }
                Poll::Ready(Some(frame))
            }
            Poll::Pending => {
                let after = this.after;
                let deadline = this
                    .deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(after)));
                match deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut(after)))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
