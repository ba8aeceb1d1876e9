//! What hostile length prefixes make a `NetTransport` allocate, measured
//! with a counting allocator (its own test binary: the allocator is global).
//! The transport and the hostile peers run on one current-thread runtime,
//! so every allocation they make is counted on this thread.
#![allow(clippy::print_stdout)]

mod support;

use std::time::Duration;

use allocation_counter::AllocationInfo;
use rumor_net::transport::frame::encode_preamble;
use rumor_net::transport::{CloseReason, DropReason, Transport};
use rumor_net::NetTransport;
use support::{closed_by_peer, eventually, frame, net, raw_stream, recv, write};
use tokio::runtime::Runtime;

/// The runtime of a test: one thread, where every allocation is counted.
fn one_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Checks the peak of `info` is under 1 MiB, and that the counter saw the
/// transport's tasks (a connection's read buffer is 8 KiB).
fn peak_under_one_mib(info: AllocationInfo, what: &str) {
    assert!(info.bytes_max >= 8 * 1024, "{info:?}");
    assert!(
        info.bytes_max < 1 << 20,
        "peak of {} bytes for {what}",
        info.bytes_max
    );
}

fn shutdown_on(runtime: &Runtime, transport: &NetTransport) {
    runtime.block_on(async {
        tokio::time::timeout(support::WAIT, transport.shutdown())
            .await
            .expect("shutdown completes");
    });
}

/// Connections announcing 4 GiB frames are cut off at the length; those
/// announcing a frame of exactly `max_frame` (16 MiB) and sending 1 KiB
/// hold no more than a first chunk (16 KiB) until the deadline closes them:
/// the peak stays under 1 MiB while the lengths claim 16 GiB.
#[test]
fn hostile_lengths_allocate_only_for_bytes_that_arrived() {
    let runtime = one_thread();
    // A first frame of max_frame bytes gets frame_timeout past the deadline.
    let (b, _b_inbox) = runtime.block_on(net(|c| {
        c.first_frame_deadline = Duration::from_millis(500);
        c.frame_timeout = Duration::from_millis(500);
    }));
    let to = b.local_addr();
    let max_frame = u32::try_from(b.max_frame()).expect("a u32");
    let peer = "127.0.0.1:9".parse().expect("an address");
    let hostile = |len: u32, body: usize| {
        let mut bytes = encode_preamble(peer).to_vec();
        bytes.extend_from_slice(&len.to_le_bytes());
        bytes.extend(std::iter::repeat_n(0x5a, body));
        bytes
    };
    let info = allocation_counter::measure(|| {
        runtime.block_on(async {
            let mut streams = Vec::new();
            for _ in 0..4 {
                let mut stream = raw_stream(to).await;
                write(&mut stream, &hostile(u32::MAX, 1_024), "a 4 GiB length").await;
                streams.push(stream);
            }
            for _ in 0..4 {
                let mut stream = raw_stream(to).await;
                write(&mut stream, &hostile(max_frame, 1_024), "a 16 MiB length").await;
                streams.push(stream);
            }
            for stream in &mut streams {
                closed_by_peer(stream, "a hostile stream").await;
            }
            eventually("every close counted", || b.stats().connections_in == 0).await;
        });
    });
    let stats = b.stats();
    assert_eq!(stats.closed(CloseReason::FrameTooLarge), 4);
    assert_eq!(stats.closed(CloseReason::AuthTimeout), 4);
    assert_eq!(stats.frames_in, 0);
    let claimed = 4 * u64::from(u32::MAX) + 4 * u64::from(max_frame);
    println!(
        "8 hostile streams claimed {claimed} bytes and sent 8 KiB: peak {} bytes allocated, \
         {} allocations in all",
        info.bytes_max, info.count_total
    );
    peak_under_one_mib(info, "lengths that claimed 16 GiB");
    shutdown_on(&runtime, &b);
}

/// An authenticated stream sends two whole 8 MiB frames to an inbox with
/// room for 256 KiB of frames: each is read into that room, then past it
/// without being kept (counted as `InboxFull`), the stream stays in step
/// (the small frame after them arrives), and the peak stays under 1 MiB
/// while 16 MiB came.
#[test]
fn frames_without_room_in_the_inbox_are_read_past_not_kept() {
    let runtime = one_thread();
    let (b, mut b_inbox) = runtime.block_on(net(|c| c.max_inbox_stream_bytes = 256 << 10));
    let mut bytes = encode_preamble("127.0.0.1:9".parse().expect("an address")).to_vec();
    bytes.extend(frame(b"an authenticated first frame"));
    let big = vec![0x5a; 8 << 20];
    for _ in 0..2 {
        bytes.extend(frame(&big));
    }
    bytes.extend(frame(b"after"));
    drop(big);
    let info = allocation_counter::measure(|| {
        runtime.block_on(async {
            let mut stream = raw_stream(b.local_addr()).await;
            write(&mut stream, &bytes, "two frames of 8 MiB").await;
            for expected in [&b"an authenticated first frame"[..], b"after"] {
                let got = recv(&mut b_inbox, "a small frame").await;
                assert_eq!(&got.payload[..], expected);
            }
        });
    });
    let stats = b.stats();
    assert_eq!(stats.dropped(DropReason::InboxFull), 2);
    assert_eq!(stats.frames_in, 2);
    println!(
        "2 frames of 8 MiB without room in the inbox: peak {} bytes allocated",
        info.bytes_max
    );
    peak_under_one_mib(info, "frames with no room");
    shutdown_on(&runtime, &b);
}
