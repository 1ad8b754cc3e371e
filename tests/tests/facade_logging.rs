//! Tracing output of the facade: spans name the call and the job, and never the key.
//!
//! Alone in its own test binary: `tracing` caches per call site whether anyone listens, so a
//! test running beside others without a subscriber could switch these spans off.

use std::time::Duration;

use pixmill::hitpaw::Client;
use pixmill::{ImageInput, PollPolicy};
use pixmill_sandbox::{Provider, Sandbox};
use pixmill_tests::sandbox::{quick_sandbox, sample_png};

fn client(sandbox: &Sandbox) -> Client {
    Client::builder()
        .api_key(sandbox.credentials().hitpaw_api_key.clone())
        .base_url(sandbox.base_url(Provider::Hitpaw))
        .poll_policy(PollPolicy::new(Duration::from_millis(50)))
        .build()
        .expect("client builds")
}

#[tokio::test]
async fn logs_never_show_the_key() {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let sandbox = quick_sandbox().await;
    let key = sandbox.credentials().hitpaw_api_key.clone();
    let job = client(&sandbox)
        .segment(ImageInput::from_bytes(sample_png(8, 8)))
        .send()
        .await
        .unwrap();
    job.wait().await.unwrap();
    let logs = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("pixmill.call"), "spans are logged: {logs}");
    assert!(logs.contains(job.id()), "the job id is in the logs");
    assert!(!logs.contains(&key), "the key never is");
}
