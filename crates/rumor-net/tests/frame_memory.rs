//! What hostile length prefixes make a `NetTransport` allocate, measured
//! with a counting allocator (its own test binary: the allocator is global).
//! The transport and the hostile peers run on one current-thread runtime,
//! so every allocation they make is counted on this thread.
#![allow(clippy::print_stdout)]

mod support;

use std::time::Duration;

use rumor_net::transport::frame::encode_preamble;
use rumor_net::transport::{CloseReason, Transport};
use support::{closed_by_peer, eventually, net, raw_stream, write};

/// Connections announcing 4 GiB frames are cut off at the length; those
/// announcing a frame of exactly `max_frame` (16 MiB) and sending 1 KiB
/// hold no more than the bytes that came (two of them fit the budget of
/// unauthenticated bytes, the others are refused at the length): the peak
/// stays under 1 MiB while the lengths claim 16 GiB.
#[test]
fn hostile_lengths_allocate_only_for_bytes_that_arrived() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (b, _b_inbox) = runtime.block_on(net(|c| {
        c.first_frame_deadline = Duration::from_millis(500);
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
    assert_eq!(stats.closed(CloseReason::AuthBudget), 2);
    assert_eq!(stats.closed(CloseReason::AuthTimeout), 2);
    assert_eq!(stats.frames_in, 0);
    let claimed = 4 * u64::from(u32::MAX) + 4 * u64::from(max_frame);
    println!(
        "8 hostile streams claimed {claimed} bytes and sent 8 KiB: peak {} bytes allocated, \
         {} allocations in all",
        info.bytes_max, info.count_total
    );
    // The counter saw the transport's tasks (a connection's read buffer is 8 KiB).
    assert!(info.bytes_max >= 8 * 1024, "{info:?}");
    assert!(
        info.bytes_max < 1 << 20,
        "peak of {} bytes for lengths that claimed {claimed}",
        info.bytes_max
    );
    runtime.block_on(async {
        tokio::time::timeout(support::WAIT, b.shutdown())
            .await
            .expect("shutdown completes");
    });
}
