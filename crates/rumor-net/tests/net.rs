//! What only `NetTransport` does, on loopback with OS-chosen ports: binding
//! (port 0, advertise address, IPv6), its TCP streams (pooling, idle close,
//! refused connections) and what it does with hostile peers (oversized
//! lengths, garbage, half-open and slow streams, failed authentication).
//! The behaviours every transport shares are in `transport.rs`.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use rumor_crdt::ReplicaId;

use rumor_net::transport::frame::encode_preamble;
use rumor_net::transport::{
    Authenticate, Class, CloseReason, ConfigError, DropReason, Inbox, SendError, Transport, Via,
};
use rumor_net::{
    BindError, Cluster, EnvelopeCodec, Key, Keyring, NetTransport, Security, TransportConfig,
};
use support::{
    closed_by_peer, eventually, frame, hook, loopback, net, payload, raw_stream, recv, still_open,
    tag, write, WAIT,
};
use tokio::net::UdpSocket;
use tokio::time::{timeout, Instant};

/// The address hand-written peers announce in their preamble.
const RAW_PEER: &str = "127.0.0.1:9";

fn raw_peer() -> SocketAddr {
    RAW_PEER.parse().expect("an address")
}

async fn shutdown(transports: &[&NetTransport]) {
    for t in transports {
        timeout(WAIT, t.shutdown())
            .await
            .expect("shutdown completes");
    }
}

/// Sends one datagram and one frame from `a` to `b` and checks both arrive
/// from `a`: the node still serves honest peers.
async fn honest_traffic_arrives(a: &NetTransport, b: &NetTransport, inbox: &mut Inbox, tag: u32) {
    a.send(b.local_addr(), payload(tag, 100).into(), Class::Data)
        .expect("queued");
    a.send(b.local_addr(), payload(tag + 1, 5_000).into(), Class::Data)
        .expect("queued");
    let mut got = Vec::new();
    for _ in 0..2 {
        let incoming = recv(inbox, "honest traffic").await;
        assert_eq!(incoming.from, a.local_addr());
        got.push((support::tag(&incoming.payload), incoming.via));
    }
    got.sort_unstable_by_key(|&(tag, _)| tag);
    assert_eq!(got, [(tag, Via::Datagram), (tag + 1, Via::Stream)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_zero_binds_udp_and_tcp_on_one_os_chosen_port() {
    let (a, mut a_inbox) = net(|_| {}).await;
    let (b, _b_inbox) = net(|_| {}).await;
    let port = a.local_addr().port();
    assert_ne!(port, 0);
    assert_ne!(port, b.local_addr().port());
    // TCP listens on the port UDP is bound to.
    let stream = raw_stream(a.local_addr()).await;
    drop(stream);
    let udp = UdpSocket::bind(loopback()).await.expect("a UDP socket");
    udp.send_to(b"over udp", a.local_addr())
        .await
        .expect("sent");
    let got = recv(&mut a_inbox, "a raw datagram").await;
    assert_eq!(
        (got.from, &got.payload[..], got.via),
        (
            udp.local_addr().expect("bound"),
            &b"over udp"[..],
            Via::Datagram
        )
    );
    shutdown(&[&a, &b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_or_a_setting_out_of_range_is_a_typed_bind_error() {
    let (a, _a_inbox) = net(|_| {}).await;
    let taken = NetTransport::bind(TransportConfig::new(a.local_addr()), hook()).await;
    match taken {
        Err(BindError::Udp { addr, source }) => {
            assert_eq!(addr, a.local_addr());
            assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
        }
        other => panic!("expected the port to be taken, got {other:?}"),
    }
    type Tweak = fn(&mut TransportConfig);
    let cases: [(Tweak, ConfigError); 4] = [
        (|c| c.max_datagram = 0, ConfigError::MaxDatagram(0)),
        (
            |c| c.max_datagram = 65_508,
            ConfigError::MaxDatagram(65_508),
        ),
        (|c| c.max_frame = 1_000, ConfigError::MaxFrame(1_000)),
        (
            |c| c.inbox_capacity = 0,
            ConfigError::Zero("inbox_capacity"),
        ),
    ];
    for (tweak, expected) in cases {
        let mut config = TransportConfig::new(loopback());
        tweak(&mut config);
        match NetTransport::bind(config, hook()).await {
            Err(BindError::Config(error)) => assert_eq!(error, expected),
            other => panic!("expected {expected:?}, got {other:?}"),
        }
    }
    shutdown(&[&a]).await;
}

/// A stream names its sender by the address it advertises (the preamble), a
/// datagram by its source address; an advertised wildcard IP is replaced by
/// the IP the connection came from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_advertised_address_is_reported_and_names_the_sender_of_streams() {
    let (b, mut b_inbox) = net(|_| {}).await;
    let advertised: SocketAddr = "127.0.0.1:4242".parse().expect("an address");
    let (a, _a_inbox) = net(|c| c.advertise = Some(advertised)).await;
    assert_eq!(a.local_addr(), advertised);
    a.send(b.local_addr(), payload(1, 5_000).into(), Class::Data)
        .expect("queued");
    assert_eq!(recv(&mut b_inbox, "a frame").await.from, advertised);
    a.send(b.local_addr(), payload(2, 10).into(), Class::Data)
        .expect("queued");
    let datagram = recv(&mut b_inbox, "a datagram").await;
    assert_eq!(datagram.from.ip(), advertised.ip());
    assert_ne!(datagram.from.port(), advertised.port());

    // Port 0 in the advertise address: the bound port.
    let (c, _c_inbox) = net(|c| c.advertise = Some("0.0.0.0:0".parse().expect("an address"))).await;
    let port = c.local_addr().port();
    assert_ne!(port, 0);
    assert!(c.local_addr().ip().is_unspecified());
    c.send(b.local_addr(), payload(3, 5_000).into(), Class::Data)
        .expect("queued");
    let got = recv(&mut b_inbox, "a frame from a wildcard address").await;
    assert_eq!(got.from, SocketAddr::from(([127, 0, 0, 1], port)));
    shutdown(&[&a, &b, &c]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_loopback_carries_datagrams_and_streams() {
    let v6 = || TransportConfig::new("[::1]:0".parse().expect("an address"));
    let (a, _a_inbox) = match NetTransport::bind(v6(), hook()).await {
        Ok(bound) => bound,
        Err(error) => {
            eprintln!("skipped: cannot bind [::1] ({error})");
            return;
        }
    };
    let (b, mut b_inbox) = NetTransport::bind(v6(), hook()).await.expect("bind [::1]");
    assert!(a.local_addr().is_ipv6() && a.local_addr().port() != 0);
    honest_traffic_arrives(&a, &b, &mut b_inbox, 10).await;
    // An IPv4 socket cannot reach an IPv6 address, nor a socket bound to
    // ::1 an IPv4 one: refused, typed, counted.
    let (c, _c_inbox) = net(|_| {}).await;
    for (from, to) in [(&c, &b), (&b, &c)] {
        assert_eq!(
            from.send(to.local_addr(), payload(1, 10).into(), Class::Data),
            Err(SendError::AddressFamily {
                to: to.local_addr()
            })
        );
        assert_eq!(from.stats().dropped(DropReason::AddressFamily), 1);
    }
    shutdown(&[&a, &b, &c]).await;
}

/// A length prefix over `max_frame`, as the first frame or a later one:
/// the connection is closed before a byte of the payload is read, counted,
/// and nothing of it is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_length_is_cut_off_and_counted() {
    let (a, _a_inbox) = net(|_| {}).await;
    let (b, mut b_inbox) = net(|c| c.max_frame = 64 * 1024).await;
    let mut first = raw_stream(b.local_addr()).await;
    let mut hostile = encode_preamble(raw_peer()).to_vec();
    hostile.extend_from_slice(&u32::MAX.to_le_bytes());
    hostile.extend_from_slice(&[0xab; 1_000]);
    write(&mut first, &hostile, "a 4 GiB length").await;
    closed_by_peer(&mut first, "a stream announcing 4 GiB").await;

    let mut later = raw_stream(b.local_addr()).await;
    let mut bytes = encode_preamble(raw_peer()).to_vec();
    bytes.extend(frame(b"an honest first frame"));
    bytes.extend_from_slice(&(64 * 1024 + 1u32).to_le_bytes());
    write(&mut later, &bytes, "an oversized second frame").await;
    closed_by_peer(&mut later, "a stream with an oversized second frame").await;
    let got = recv(&mut b_inbox, "the honest first frame").await;
    assert_eq!(
        (got.from, &got.payload[..]),
        (raw_peer(), &b"an honest first frame"[..])
    );

    eventually("both closes counted", || {
        b.stats().closed(CloseReason::FrameTooLarge) == 2
    })
    .await;
    let stats = b.stats();
    assert_eq!((stats.frames_in, stats.connections_in), (1, 0));
    honest_traffic_arrives(&a, &b, &mut b_inbox, 100).await;
    assert!(b_inbox.is_empty());
    shutdown(&[&a, &b]).await;
}

/// A connection that says nothing, half a preamble, a frame that stops
/// after 10 of its 1,000 bytes, and garbage: honest streams and datagrams
/// go through while they are open; the silent and slow ones are closed at
/// the first-frame deadline, the garbage at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_half_open_streams_do_not_hold_up_honest_peers() {
    let deadline = Duration::from_secs(3);
    let (a, _a_inbox) = net(|_| {}).await;
    let (b, mut b_inbox) = net(|c| c.first_frame_deadline = deadline).await;
    let started = tokio::time::Instant::now();
    let mut silent = raw_stream(b.local_addr()).await;
    let mut half_preamble = raw_stream(b.local_addr()).await;
    write(
        &mut half_preamble,
        &encode_preamble(raw_peer())[..10],
        "half a preamble",
    )
    .await;
    let mut slow = raw_stream(b.local_addr()).await;
    let mut bytes = encode_preamble(raw_peer()).to_vec();
    bytes.extend_from_slice(&1_000u32.to_le_bytes());
    bytes.extend_from_slice(&[1; 10]);
    write(&mut slow, &bytes, "a tenth of a frame").await;
    let mut garbage = raw_stream(b.local_addr()).await;
    let noise: Vec<u8> = (0..200u32).map(|i| (i * 97 % 256) as u8).collect();
    write(&mut garbage, &noise, "garbage").await;
    closed_by_peer(&mut garbage, "a garbage stream").await;

    honest_traffic_arrives(&a, &b, &mut b_inbox, 1).await;
    assert!(
        started.elapsed() < deadline,
        "honest traffic waited for the deadline"
    );
    for (stream, what) in [
        (&mut silent, "silent"),
        (&mut half_preamble, "half preamble"),
        (&mut slow, "slow"),
    ] {
        assert!(still_open(stream).await, "the {what} stream closed early");
    }
    let stats = b.stats();
    assert_eq!(stats.closed(CloseReason::BadPreamble), 1);
    assert_eq!(stats.closed(CloseReason::AuthTimeout), 0);

    for (stream, what) in [
        (&mut silent, "a silent stream"),
        (&mut half_preamble, "a stream stuck in its preamble"),
        (&mut slow, "a stream stuck in its first frame"),
    ] {
        closed_by_peer(stream, what).await;
    }
    eventually("the deadline closes counted", || {
        b.stats().closed(CloseReason::AuthTimeout) == 3
    })
    .await;
    // Only the honest connection is left.
    assert_eq!(b.stats().connections_in, 1);
    assert!(b_inbox.is_empty());
    honest_traffic_arrives(&a, &b, &mut b_inbox, 3).await;
    shutdown(&[&a, &b]).await;
}

/// Silent connections holding every inbound slot delay an honest stream
/// until the deadline frees a slot, no longer; datagrams are not delayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_in_every_slot_delay_streams_only_until_the_deadline() {
    let (a, _a_inbox) = net(|_| {}).await;
    let (b, mut b_inbox) = net(|c| {
        c.max_connections = 2;
        c.first_frame_deadline = Duration::from_millis(300);
    })
    .await;
    let mut silent = [
        raw_stream(b.local_addr()).await,
        raw_stream(b.local_addr()).await,
    ];
    eventually("both silent connections accepted", || {
        b.stats().connections_in == 2
    })
    .await;
    a.send(b.local_addr(), payload(1, 5_000).into(), Class::Data)
        .expect("queued");
    a.send(b.local_addr(), payload(2, 10).into(), Class::Data)
        .expect("queued");
    let first = recv(&mut b_inbox, "the datagram").await;
    assert_eq!((tag(&first.payload), first.via), (2, Via::Datagram));
    let second = recv(&mut b_inbox, "the frame, once a slot is free").await;
    assert_eq!((tag(&second.payload), second.via), (1, Via::Stream));
    assert!(b.stats().closed(CloseReason::AuthTimeout) >= 1);
    for stream in &mut silent {
        closed_by_peer(stream, "a silent connection").await;
    }
    shutdown(&[&a, &b]).await;
}

/// The wall clock in ms, as the runtime will read it.
fn now_ms() -> u64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970");
    u64::try_from(since_epoch.as_millis()).expect("before 584 million years")
}

/// Streams authenticated by the envelope: the receiver's hook runs
/// `EnvelopeCodec::authenticate` on the first frame. A sender with the
/// cluster's key gets its frames through, and the first frame then opens
/// (authenticating it did not spend its nonce); a sender with another key
/// is cut off at its first frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_authenticated_by_the_envelope() {
    let codec = |key: u8, id: u128| {
        let keyring = Keyring::new(Key::from_bytes([key; 32]));
        EnvelopeCodec::new(
            Security::Keys(keyring),
            Cluster::new("transport-test"),
            ReplicaId::from_u128(id),
        )
    };
    let receiver = Arc::new(Mutex::new(codec(1, 1)));
    let check: Authenticate = {
        let receiver = receiver.clone();
        Arc::new(move |frame: &[u8]| {
            let mut codec = receiver.lock().expect("not poisoned");
            codec.authenticate(frame, usize::MAX, now_ms()).is_ok()
        })
    };
    let (b, mut b_inbox) = support::net_checking(check, |_| {}).await;
    let (a, _a_inbox) = net(|_| {}).await;
    let (c, _c_inbox) = net(|_| {}).await;
    let mut rng = StdRng::seed_from_u64(5);
    let mut member = codec(1, 2);
    let mut outsider = codec(2, 3);
    for i in 0..2 {
        let sealed = member
            .seal(&payload(i, 5_000), now_ms(), &mut rng)
            .expect("sealed");
        a.send(b.local_addr(), sealed.into(), Class::Data)
            .expect("queued");
    }
    let sealed = outsider
        .seal(&payload(9, 5_000), now_ms(), &mut rng)
        .expect("sealed");
    c.send(b.local_addr(), sealed.into(), Class::Data)
        .expect("queued");
    for i in 0..2 {
        let got = recv(&mut b_inbox, "a member's frame").await;
        assert_eq!(got.from, a.local_addr());
        let opened = receiver
            .lock()
            .expect("not poisoned")
            .open(&got.payload, usize::MAX, now_ms())
            .expect("a member's frame opens");
        assert_eq!(opened.header.sender, ReplicaId::from_u128(2));
        assert_eq!(tag(&opened.payload), i);
    }
    eventually("the outsider cut off", || {
        b.stats().closed(CloseReason::AuthFailed) == 1
    })
    .await;
    assert!(b_inbox.is_empty());
    shutdown(&[&a, &b, &c]).await;
}

/// A first frame the hook refuses closes the connection; it is never
/// delivered, and neither is anything after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_frame_that_fails_authentication_closes_the_stream_undelivered() {
    let (b, mut b_inbox) = net(|_| {}).await;
    let mut stream = raw_stream(b.local_addr()).await;
    let mut bytes = encode_preamble(raw_peer()).to_vec();
    bytes.extend(frame(b"BAD first frame"));
    bytes.extend(frame(b"a second frame"));
    write(&mut stream, &bytes, "a refused first frame").await;
    closed_by_peer(&mut stream, "an unauthenticated stream").await;
    eventually("the close counted", || {
        b.stats().closed(CloseReason::AuthFailed) == 1
    })
    .await;
    assert_eq!(b.stats().frames_in, 0);
    assert!(b_inbox.is_empty());

    // The same bytes with a good first frame: both frames arrive, from the
    // address of the preamble.
    let mut stream = raw_stream(b.local_addr()).await;
    let mut bytes = encode_preamble(raw_peer()).to_vec();
    bytes.extend(frame(b"good first frame"));
    bytes.extend(frame(b"a second frame"));
    write(&mut stream, &bytes, "an accepted first frame").await;
    for expected in [&b"good first frame"[..], b"a second frame"] {
        let got = recv(&mut b_inbox, "a frame of an accepted stream").await;
        assert_eq!(
            (got.from, &got.payload[..], got.via),
            (raw_peer(), expected, Via::Stream)
        );
    }
    shutdown(&[&b]).await;
}

/// A long first frame gets the time its length takes at the slowest rate
/// accepted (`frame_timeout` for `max_frame` bytes: here 1.9 s more for
/// 1 MiB): sent in pieces over 0.6 s, twice the deadline, it arrives. A
/// short one that stops is still closed at the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_first_frame_gets_time_for_its_length() {
    let (b, mut b_inbox) = net(|c| c.first_frame_deadline = Duration::from_millis(300)).await;
    let mut long = raw_stream(b.local_addr()).await;
    let body = payload(7, 1 << 20);
    let mut head = encode_preamble(raw_peer()).to_vec();
    head.extend_from_slice(&(1u32 << 20).to_le_bytes());
    write(&mut long, &head, "the head of a long first frame").await;
    for piece in body.chunks(1 << 18) {
        tokio::time::sleep(Duration::from_millis(150)).await;
        write(&mut long, piece, "a piece of a long first frame").await;
    }
    let got = recv(&mut b_inbox, "the long first frame").await;
    assert!(got.payload == body, "the long first frame arrived changed");

    let mut short = raw_stream(b.local_addr()).await;
    let mut bytes = encode_preamble(raw_peer()).to_vec();
    bytes.extend_from_slice(&100u32.to_le_bytes());
    bytes.extend_from_slice(&[1; 10]);
    write(&mut short, &bytes, "a short first frame that stops").await;
    closed_by_peer(&mut short, "a short first frame that stops").await;
    assert_eq!(b.stats().closed(CloseReason::AuthTimeout), 1);
    assert!(still_open(&mut long).await);
    shutdown(&[&b]).await;
}

/// A first frame whose buffer would go over what the budget of
/// unauthenticated bytes has left is refused before the rest is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_frame_over_the_unauthenticated_budget_is_refused() {
    let (b, mut b_inbox) = net(|c| c.max_unauthenticated_bytes = 4_000).await;
    let mut stream = raw_stream(b.local_addr()).await;
    let mut bytes = encode_preamble(raw_peer()).to_vec();
    bytes.extend_from_slice(&4_001u32.to_le_bytes());
    write(&mut stream, &bytes, "a first frame over the budget").await;
    closed_by_peer(&mut stream, "a stream over the budget").await;
    eventually("the close counted", || {
        b.stats().closed(CloseReason::AuthBudget) == 1
    })
    .await;
    // Within the budget, the same frame length is read.
    let mut stream = raw_stream(b.local_addr()).await;
    let mut bytes = encode_preamble(raw_peer()).to_vec();
    bytes.extend(frame(&payload(5, 4_000)));
    write(&mut stream, &bytes, "a first frame within the budget").await;
    let got = recv(&mut b_inbox, "the frame within the budget").await;
    assert_eq!((tag(&got.payload), got.payload.len()), (5, 4_000));
    shutdown(&[&b]).await;
}

/// A frame announced by an authenticated stream and then not sent holds
/// room in the inbox only for the bytes that came: frames of others still
/// find room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_announced_but_not_sent_holds_no_room_in_the_inbox() {
    let (a, _a_inbox) = net(|_| {}).await;
    let (b, mut b_inbox) = net(|c| c.max_inbox_stream_bytes = 1 << 20).await;
    let mut stalled = raw_stream(b.local_addr()).await;
    let mut bytes = encode_preamble(raw_peer()).to_vec();
    bytes.extend(frame(b"an authenticated first frame"));
    bytes.extend_from_slice(&(900u32 << 10).to_le_bytes());
    bytes.extend_from_slice(&[1; 100]);
    write(&mut stalled, &bytes, "a frame announced, 100 bytes sent").await;
    let first = recv(&mut b_inbox, "the stalled stream's first frame").await;
    assert_eq!(first.from, raw_peer());
    for i in 0..3 {
        a.send(b.local_addr(), payload(i, 200 << 10).into(), Class::Data)
            .expect("queued");
    }
    for i in 0..3 {
        let got = recv(&mut b_inbox, "a frame beside the stalled one").await;
        assert_eq!((got.from, tag(&got.payload)), (a.local_addr(), i));
    }
    assert_eq!(b.stats().dropped(DropReason::InboxFull), 0);
    assert!(still_open(&mut stalled).await);
    shutdown(&[&a, &b]).await;
}

/// A stream that ends inside a frame: the frames before it arrive, the cut
/// one does not, and the close is a stream error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_inside_a_frame_delivers_only_whole_frames() {
    let (b, mut b_inbox) = net(|_| {}).await;
    let mut stream = raw_stream(b.local_addr()).await;
    let mut bytes = encode_preamble(raw_peer()).to_vec();
    bytes.extend(frame(b"whole"));
    bytes.extend(&frame(&[7; 100])[..50]);
    write(&mut stream, &bytes, "a cut frame").await;
    drop(stream);
    assert_eq!(
        &recv(&mut b_inbox, "the whole frame").await.payload[..],
        b"whole"
    );
    eventually("the close counted", || {
        b.stats().closed(CloseReason::StreamError) == 1
    })
    .await;
    assert_eq!(b.stats().frames_in, 1);
    assert!(b_inbox.is_empty());
    shutdown(&[&b]).await;
}

/// Frames to one peer share one connection; it closes after the idle
/// timeout, and the next frame opens another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_connections_are_pooled_and_closed_when_idle() {
    let (a, _a_inbox) = net(|c| c.idle_timeout = Duration::from_millis(300)).await;
    let (b, mut b_inbox) = net(|_| {}).await;
    for i in 0..5 {
        a.send(b.local_addr(), payload(i, 2_000).into(), Class::Data)
            .expect("queued");
    }
    for i in 0..5 {
        assert_eq!(tag(&recv(&mut b_inbox, "a pooled frame").await.payload), i);
    }
    let stats = a.stats();
    assert_eq!((stats.connections_opened, stats.connections_out), (1, 1));
    assert_eq!(b.stats().connections_accepted, 1);
    eventually("the idle connection closed at both ends", || {
        a.stats().connections_out == 0 && b.stats().connections_in == 0
    })
    .await;
    assert_eq!(a.stats().closed(CloseReason::Idle), 1);
    assert_eq!(b.stats().closed(CloseReason::PeerClosed), 1);
    a.send(b.local_addr(), payload(9, 2_000).into(), Class::Data)
        .expect("queued");
    assert_eq!(
        tag(&recv(&mut b_inbox, "a frame after idle").await.payload),
        9
    );
    assert_eq!(a.stats().connections_opened, 2);
    assert_eq!(a.stats().dropped_total(), 0);
    shutdown(&[&a, &b]).await;
}

/// Frames to an address where nothing listens are dropped and counted; the
/// sender goes on serving others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_to_a_peer_that_refuses_connections_are_dropped_and_counted() {
    let (a, _a_inbox) = net(|_| {}).await;
    let (b, mut b_inbox) = net(|_| {}).await;
    let (gone, _gone_inbox) = net(|_| {}).await;
    let nobody = gone.local_addr();
    shutdown(&[&gone]).await;
    for i in 0..3 {
        a.send(nobody, payload(i, 2_000).into(), Class::Data)
            .expect("queued: the network does not say yet");
    }
    eventually("the refused frames counted", || {
        let stats = a.stats();
        stats.dropped(DropReason::ConnectionFailed) + stats.dropped(DropReason::ConnectBackoff) == 3
    })
    .await;
    let stats = a.stats();
    // One attempt: the frames sent while it ran waited for it, and those
    // sent after it failed fell in the reconnect backoff.
    assert_eq!(stats.closed(CloseReason::ConnectFailed), 1);
    assert_eq!((stats.connections_out, stats.queued_frames), (0, 0));
    honest_traffic_arrives(&a, &b, &mut b_inbox, 1).await;
    shutdown(&[&a, &b]).await;
}

/// After a failed connection attempt, frames to that peer are dropped
/// without another attempt until its reconnect backoff runs out (doubling
/// with each failure in a row); a peer back at its address is reached at
/// the first send after that, and its backoff is forgotten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_refused_a_connection_is_retried_after_its_backoff_and_reached_when_back() {
    let backoff = Duration::from_millis(300);
    let (a, _a_inbox) = net(|c| c.reconnect_backoff = backoff).await;
    let (gone, _gone_inbox) = net(|_| {}).await;
    let addr = gone.local_addr();
    shutdown(&[&gone]).await;
    a.send(addr, payload(1, 2_000).into(), Class::Data)
        .expect("queued");
    eventually("the first attempt failed", || {
        a.stats().closed(CloseReason::ConnectFailed) == 1
    })
    .await;
    let tried = Instant::now();
    // Within the backoff: dropped, no attempt.
    for i in 0..5 {
        a.send(addr, payload(10 + i, 2_000).into(), Class::Data)
            .expect("dropped, not refused");
    }
    let stats = a.stats();
    if tried.elapsed() < backoff {
        assert_eq!(stats.dropped(DropReason::ConnectBackoff), 5, "{stats:?}");
        assert_eq!(stats.closed(CloseReason::ConnectFailed), 1);
    }
    // After it: a second attempt, which fails too and doubles the backoff.
    tokio::time::sleep(backoff).await;
    a.send(addr, payload(2, 2_000).into(), Class::Data)
        .expect("queued");
    eventually("the second attempt failed", || {
        a.stats().closed(CloseReason::ConnectFailed) == 2
    })
    .await;
    // The peer comes back at its address; within the doubled backoff a
    // frame is still dropped, after it the next one arrives.
    let (b, mut b_inbox) = NetTransport::bind(TransportConfig::new(addr), hook())
        .await
        .expect("the address is free after shutdown");
    let retried = Instant::now();
    a.send(addr, payload(3, 2_000).into(), Class::Data)
        .expect("dropped, not refused");
    if retried.elapsed() < backoff {
        assert_eq!(a.stats().dropped(DropReason::ConnectBackoff), 6);
    }
    tokio::time::sleep(backoff * 2).await;
    a.send(addr, payload(4, 2_000).into(), Class::Data)
        .expect("queued");
    assert_eq!(
        tag(&recv(&mut b_inbox, "the frame after the backoff")
            .await
            .payload),
        4
    );
    assert_eq!(a.stats().closed(CloseReason::ConnectFailed), 2);
    assert_eq!(a.stats().connections_opened, 1);
    shutdown(&[&a, &b]).await;
}

/// A peer that accepts connections but never reads: frames to it wait in
/// its own queue and connection until the frame timeout closes it (each
/// frame counted as sent or dropped); frames to others are not delayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_reads_holds_up_only_its_own_frames() {
    let (a, _a_inbox) = net(|c| c.frame_timeout = Duration::from_millis(500)).await;
    let (b, mut b_inbox) = net(|_| {}).await;
    // The kernel completes the handshakes; nothing ever reads.
    let stuck = tokio::net::TcpListener::bind(loopback())
        .await
        .expect("a listener");
    let stuck_addr = stuck.local_addr().expect("bound");
    for i in 0..8 {
        a.send(stuck_addr, payload(i, 4 << 20).into(), Class::Data)
            .expect("queued");
    }
    honest_traffic_arrives(&a, &b, &mut b_inbox, 1).await;
    eventually("the stuck connection closed", || {
        let s = a.stats();
        s.closed(CloseReason::StreamError) == 1 && s.queued_frames == 0
    })
    .await;
    let stats = a.stats();
    // Some frames fit the sockets' buffers before the writes stall.
    assert!(stats.frames_out < 1 + 8, "{stats:?}");
    assert_eq!(
        stats.frames_out + stats.dropped(DropReason::ConnectionFailed),
        1 + 8
    );
    assert_eq!(stats.connections_out, 1, "only b's connection is left");
    drop(stuck);
    shutdown(&[&a, &b]).await;
}

/// After shutdown (streams were used both ways), a transport binds the same
/// address at once: a node restarts where it was, and its peers reach it
/// again without doing anything: a sender's pooled connection to the old
/// node closes, the next frame opens a new one. (A frame sent while the old
/// connection is closing is lost, counted as `ConnectionFailed` or, when
/// the kernel took it before the close was seen, as sent: the gossip repairs
/// it like a lost datagram.) Dropping a transport without shutdown frees
/// its address too, once its tasks have stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restarts_on_the_address_it_had() {
    let (a, mut a_inbox) = net(|_| {}).await;
    let (b, mut b_inbox) = net(|_| {}).await;
    honest_traffic_arrives(&a, &b, &mut b_inbox, 1).await;
    honest_traffic_arrives(&b, &a, &mut a_inbox, 3).await;
    let addr = b.local_addr();
    shutdown(&[&b]).await;
    drop(b_inbox);
    let (b, mut b_inbox) = NetTransport::bind(TransportConfig::new(addr), hook())
        .await
        .expect("the address is free after shutdown");
    let mut arrived = None;
    for i in 0..20 {
        a.send(addr, payload(100 + i, 5_000).into(), Class::Data)
            .expect("queued");
        if let Ok(Some(got)) = timeout(Duration::from_millis(250), b_inbox.recv()).await {
            arrived = Some((i, tag(&got.payload)));
            break;
        }
    }
    let (i, got) = arrived.expect("a frame reached the restarted node");
    assert_eq!(got, 100 + i);
    assert!(
        i <= 1,
        "only a frame sent into the closing connection is lost"
    );
    assert_eq!(a.stats().connections_opened, 2);
    honest_traffic_arrives(&a, &b, &mut b_inbox, 5).await;

    drop(b);
    let deadline = tokio::time::Instant::now() + WAIT;
    let again = loop {
        match NetTransport::bind(TransportConfig::new(addr), hook()).await {
            Ok(bound) => break bound,
            Err(error) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "still bound after a drop: {error}"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    shutdown(&[&a, &again.0]).await;
}

/// Shutdown closes inbound connections still waiting for their first frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_connections_still_waiting_to_authenticate() {
    let (b, _b_inbox) = net(|_| {}).await;
    let mut silent = raw_stream(b.local_addr()).await;
    eventually("the connection accepted", || b.stats().connections_in == 1).await;
    shutdown(&[&b]).await;
    closed_by_peer(&mut silent, "a silent connection at shutdown").await;
    let stats = b.stats();
    assert_eq!(stats.connections_in, 0);
    assert_eq!(stats.closed(CloseReason::Shutdown), 1);
}

/// Datagrams over `max_datagram` are dropped and counted; random datagrams
/// of every size are delivered (opening them is the envelope's job) or
/// dropped, each counted once, and the node goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_and_random_datagrams_are_counted_and_never_stop_the_node() {
    let (a, _a_inbox) = net(|_| {}).await;
    let (b, mut b_inbox) = net(|_| {}).await;
    let udp = UdpSocket::bind(loopback()).await.expect("a UDP socket");
    let to = b.local_addr();
    udp.send_to(&[1; 1_201], to).await.expect("sent");
    udp.send_to(&[2; 1_200], to).await.expect("sent");
    let got = recv(&mut b_inbox, "a datagram of max_datagram bytes").await;
    assert_eq!((got.payload.len(), got.payload[0]), (1_200, 2));
    assert_eq!(b.stats().dropped(DropReason::Oversize), 1);

    // 2,000 datagrams of 0 to 1,500 random bytes, in batches the socket
    // buffer holds.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut oversize, mut sent) = (1, 0);
    for _ in 0..20 {
        for _ in 0..100 {
            let len = (next() % 1_501) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            udp.send_to(&bytes, to).await.expect("sent");
            oversize += u64::from(len > 1_200);
            sent += 1;
        }
        eventually("the batch counted", || {
            let s = b.stats();
            s.datagrams_in + s.dropped(DropReason::Oversize) + s.dropped(DropReason::InboxFull)
                == 2 + sent
        })
        .await;
        while b_inbox.try_recv().is_ok() {}
    }
    assert_eq!(b.stats().dropped(DropReason::Oversize), oversize);
    honest_traffic_arrives(&a, &b, &mut b_inbox, 1).await;
    shutdown(&[&a, &b]).await;
}
