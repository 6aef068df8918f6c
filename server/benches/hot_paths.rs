//! Micro-benchmarks of the hot paths: encoding an event once, fanning it out to 10,000 local queues, and a vote.
//! `cargo bench -p majlis-server`; figures belong in docs/benchmarks.md, never in assertions.

use std::hint::black_box;
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use majlis_server::auth::{Role, User};
use majlis_server::hub::{ConnControl, Hub, Outbound, Outbox, OutboxBounds, Subscriber};
use majlis_server::limits::Unlimited;
use majlis_server::metrics::Metrics;
use majlis_server::protocol;
use majlis_server::qa::filter::KeywordFilter;
use majlis_server::qa::rooms::{Audience, RoomEvent};
use majlis_server::qa::rules::{new_broadcast, Policy, QaState};
use majlis_server::qa::{Localized, NewBroadcast, QaCommand, QaReply};

fn policy() -> Policy {
    Policy {
        filter: KeywordFilter::from_list(majlis_server::qa::filter::DEFAULT_KEYWORDS),
        pseudonyms: majlis_server::auth::Pseudonyms::new(b"bench"),
        max_tags: 10,
        max_questions: 100_000,
        max_question_len_limit: 2000,
        default_max_question_len: 300,
    }
}

fn citizen(n: u32) -> User {
    User { sub: format!("c-{n}"), name: format!("Citizen {n}"), role: Role::Citizen }
}

/// A broadcast with one approved question, and that question's id.
fn state_with_question(policy: &Policy) -> (QaState, u64) {
    let new = NewBroadcast {
        title: Localized { en: Some("Bench".into()), ar: None },
        allow_anonymous: true,
        ..NewBroadcast::default()
    };
    let broadcast = new_broadcast(1, "BENCHX".into(), new, policy, 0).expect("broadcast");
    let mut state = QaState::new(broadcast);
    let text = QaCommand::Ask {
        text: "When does registration open for the new units?".into(),
        anonymous: false,
        client_msg_id: None,
    };
    let applied = state.apply(&citizen(0), text, policy, &Unlimited, || 1, 0).expect("ask");
    let QaReply::Asked { question, .. } = applied.reply else { panic!("ask replies Asked") };
    (state, question.id)
}

fn encode_event(c: &mut Criterion) {
    let policy = policy();
    let (state, id) = state_with_question(&policy);
    let question = state.questions.get(&id).expect("question").clone();
    let event = RoomEvent::Question(question);
    c.bench_function("encode a question event", |b| {
        b.iter(|| protocol::qa::event(black_box("broadcast:1"), black_box(42), Audience::Public, black_box(&event)))
    });
    let votes = RoomEvent::Votes { id, votes: 1234 };
    c.bench_function("encode a votes event", |b| {
        b.iter(|| protocol::qa::event(black_box("broadcast:1"), black_box(43), Audience::Public, black_box(&votes)))
    });
}

fn fan_out(c: &mut Criterion) {
    const SUBSCRIBERS: usize = 10_000;
    let hub = Hub::new(Arc::new(Metrics::default()));
    let mut outboxes = Vec::with_capacity(SUBSCRIBERS);
    for conn_id in 0..SUBSCRIBERS as u64 {
        let bounds = OutboxBounds { room_items: 64, own_items: 64, max_lag: std::time::Duration::from_secs(3) };
        let tx = Arc::new(Outbox::new(bounds));
        hub.subscribe(
            "broadcast:1",
            Subscriber {
                conn_id,
                tx: Arc::clone(&tx),
                control: Arc::new(ConnControl::new(Arc::clone(&tx))),
                participant: true,
                person: Arc::from("viewer"),
            },
        )
        .expect("subscribe");
        outboxes.push(tx);
    }
    let mut batch = Vec::new();
    let frame =
        Utf8Bytes::from(r#"{"type":"event","room":"broadcast:1","seq":1,"kind":"votes","data":{"id":1,"votes":2}}"#);
    // Each iteration dispatches once and empties every queue again, as the writers would.
    c.bench_function("fan out one event to 10,000 local queues (and drain them)", |b| {
        let mut seq = 0;
        b.iter(|| {
            seq += 1;
            hub.dispatch_event("broadcast:1", seq, &frame);
            for outbox in &outboxes {
                outbox.try_take(&mut batch);
                for item in batch.drain(..) {
                    black_box(matches!(item, Outbound::Event { .. }));
                }
            }
        })
    });
}

fn vote(c: &mut Criterion) {
    let policy = policy();
    let (mut state, id) = state_with_question(&policy);
    let voter = citizen(7);
    let mut value = true;
    c.bench_function("apply a vote (rules, in memory)", |b| {
        b.iter(|| {
            value = !value;
            let command = QaCommand::Vote { question: id, value };
            black_box(state.apply(&voter, command, &policy, &Unlimited, || 0, 0).expect("vote"))
        })
    });
}

criterion_group!(benches, encode_event, fan_out, vote);
criterion_main!(benches);
