//! The response bodies: one frame (a JSON answer, or a whole burst stream
//! with its exact length, optionally after a wait), or one frame per token,
//! each token due at `first + k * itl` on the [`crate::timer`] clock (no
//! drift), then one frame with the finish chunk, the usage chunk and
//! `[DONE]` right after the last token.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use super::render::{Counts, StreamChunks};

type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

fn sleep_until(at: Instant) -> Sleep {
    Box::pin(crate::timer::global().sleep_until(at))
}

/// A stub response body.
pub enum StubBody {
    /// One frame, after `wait` when set.
    Once {
        data: Option<Bytes>,
        wait: Option<Sleep>,
    },
    /// One frame per token.
    Tokens(Box<TokenStream>),
}

impl StubBody {
    /// `data` at once.
    pub fn full(data: impl Into<Bytes>) -> StubBody {
        StubBody::Once {
            data: Some(data.into()),
            wait: None,
        }
    }

    /// `data` at `at` (at once when it has passed).
    pub fn full_at(data: Bytes, at: Instant) -> StubBody {
        StubBody::Once {
            data: Some(data),
            wait: (at > Instant::now()).then(|| sleep_until(at)),
        }
    }

    /// `tokens` token frames, the first at `first`, then one every `itl`.
    pub fn tokens(
        chunks: StreamChunks,
        tokens: u64,
        usage: Option<Counts>,
        first: Instant,
        itl: Duration,
    ) -> StubBody {
        StubBody::Tokens(Box::new(TokenStream {
            chunks,
            usage,
            left: tokens,
            next_at: first,
            timed: first > Instant::now() || !itl.is_zero(),
            itl,
            sleep: None,
            ended: false,
        }))
    }
}

/// The state of a token-by-token stream.
pub struct TokenStream {
    chunks: StreamChunks,
    usage: Option<Counts>,
    left: u64,
    next_at: Instant,
    /// Whether any token has to wait (else no clock reads at all).
    timed: bool,
    itl: Duration,
    sleep: Option<Sleep>,
    ended: bool,
}

impl TokenStream {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if self.left == 0 {
            if self.ended {
                return Poll::Ready(None);
            }
            self.ended = true;
            return Poll::Ready(Some(self.chunks.end(self.usage)));
        }
        if self.timed {
            if self.sleep.is_none() && self.next_at > Instant::now() {
                self.sleep = Some(sleep_until(self.next_at));
            }
            if let Some(s) = &mut self.sleep {
                ready!(s.as_mut().poll(cx));
                self.sleep = None;
            }
            self.next_at += self.itl;
        }
        self.left -= 1;
        Poll::Ready(Some(self.chunks.token()))
    }
}

impl Body for StubBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            StubBody::Once { data, wait } => {
                if let Some(w) = wait {
                    ready!(w.as_mut().poll(cx));
                    *wait = None;
                }
                Poll::Ready(data.take().map(|d| Ok(Frame::data(d))))
            }
            StubBody::Tokens(t) => t.poll_next(cx).map(|o| o.map(|d| Ok(Frame::data(d)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            StubBody::Once { data, .. } => data.is_none(),
            StubBody::Tokens(t) => t.ended,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            StubBody::Once { data, .. } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            StubBody::Tokens(_) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::backend::Api;
    use http_body_util::BodyExt;

    async fn frames(mut body: StubBody) -> Vec<Bytes> {
        let mut out = Vec::new();
        while let Some(f) = body.frame().await {
            out.push(f.unwrap().into_data().unwrap());
        }
        assert!(body.is_end_stream());
        out
    }

    #[tokio::test]
    async fn token_stream_is_one_frame_per_token_then_the_end() {
        let chunks = StreamChunks::new(Api::Chat, 1, 2, "\"m\"");
        let usage = Some(Counts {
            prompt: 1,
            completion: 5,
        });
        let start = Instant::now();
        let first = start + Duration::from_millis(2);
        let body = StubBody::tokens(chunks.clone(), 5, usage, first, Duration::from_micros(500));
        assert_eq!(body.size_hint().exact(), None);
        let got = frames(body).await;
        assert!(Instant::now() >= first + Duration::from_micros(2000));
        assert_eq!(got.len(), 6);
        assert_eq!(got.concat(), chunks.whole(5, usage).to_vec());
        // untimed: the same frames
        let got = frames(StubBody::tokens(
            chunks.clone(),
            5,
            usage,
            start,
            Duration::ZERO,
        ))
        .await;
        assert_eq!(got.len(), 6);
        assert_eq!(got.concat(), chunks.whole(5, usage).to_vec());
    }

    #[tokio::test]
    async fn once_has_an_exact_length_and_waits() {
        let at = Instant::now() + Duration::from_millis(3);
        let body = StubBody::full_at(Bytes::from_static(b"abc"), at);
        assert_eq!(body.size_hint().exact(), Some(3));
        assert_eq!(frames(body).await, vec![Bytes::from_static(b"abc")]);
        assert!(Instant::now() >= at);
    }
}
