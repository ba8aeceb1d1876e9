#!/usr/bin/env bash
# netns-cluster.sh: K `rumor node` processes, each in a network namespace of
# its own (a real network stack each), joined by veth pairs to a bridge, with
# `tc netem` delay and loss on every node's interface. One node writes; every
# node prints each write as it arrives with its delay (receiver's wall clock
# minus the writer's HLC stamp: one machine, one clock); the script gathers
# those delays and prints percentiles.
#
# Usage (as root):
#   scripts/netns-cluster.sh [-k NODES] [-d DELAY_MS] [-l LOSS_PERCENT] [-w WRITES] [-b RUMOR_BINARY]
#   scripts/netns-cluster.sh -k 5 -d 20 -l 5 -w 50
#
# Each packet is delayed DELAY_MS and dropped with LOSS_PERCENT once, on its
# sender's interface: one hop between two nodes costs DELAY_MS one way.
# On a kernel built without netem (CONFIG_NET_SCH_NETEM) the script says so;
# the delay is then added by the nodes themselves (`rumor node --latency`,
# on their outgoing UDP datagrams only: TCP streams are not delayed), and the
# loss made by an nftables rule in each node's namespace (nftables is
# installed if missing), or where that fails too, by the nodes themselves
# (`rumor node --loss`, UDP datagrams only).
#
# What it makes, all named with the prefix rnc<pid>- so that it never touches
# anything else: one namespace per node (rnc<pid>-n1 ...) and one for the
# switch (rnc<pid>-sw) holding the bridge and the veths' other ends (so the
# host's own network, firewall and bridge settings are never involved);
# addresses from 10.77.0.0/24 inside those namespaces only; a temporary
# directory. All of it is removed on exit, on Ctrl-C and on SIGTERM.
set -euo pipefail

K=5
DELAY=20
LOSS=5
WRITES=50
BIN="${RUMOR_BIN:-}"
while getopts "k:d:l:w:b:h" opt; do
    case "$opt" in
        k) K=$OPTARG ;;
        d) DELAY=$OPTARG ;;
        l) LOSS=$OPTARG ;;
        w) WRITES=$OPTARG ;;
        b) BIN=$OPTARG ;;
        *) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
    esac
done
number() { [[ "$2" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "error: $1 must be a number, not '$2'" >&2; exit 2; }; }
number "-k" "$K"; number "-d" "$DELAY"; number "-l" "$LOSS"; number "-w" "$WRITES"
if (( K < 2 || K > 200 )); then echo "error: -k is from 2 to 200 nodes" >&2; exit 2; fi
if (( WRITES < 1 )); then echo "error: -w is at least 1" >&2; exit 2; fi

if [[ $(id -u) -ne 0 ]]; then
    echo "error: this script needs root (it makes network namespaces, veth pairs and netem qdiscs): run it with sudo" >&2
    exit 1
fi
if ! command -v ip >/dev/null || ! command -v tc >/dev/null; then
    echo "ip or tc is missing: installing iproute2" >&2
    apt-get install -y iproute2 >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y iproute2 >/dev/null; }
fi
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [[ -z "$BIN" ]]; then
    for candidate in "$ROOT/target/release/rumor" "$ROOT/target/debug/rumor"; do
        if [[ -x "$candidate" ]]; then BIN="$candidate"; break; fi
    done
fi
if [[ -z "$BIN" || ! -x "$BIN" ]]; then
    echo "error: no rumor binary: build it (cargo build --release -p rumor-cli) or give -b PATH" >&2
    exit 1
fi

P="rnc$$"
FALLBACK=""
NODE_LOSS=""
NODE_LATENCY=""
SW="$P-sw"
DIR="$(mktemp -d "/tmp/$P.XXXXXX")"
PIDS=()

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 30); do
        local alive=0
        for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        (( alive == 0 )) && break
        sleep 0.1
    done
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    # Only what carries this run's prefix: the namespaces (their veths and
    # the bridge go with them).
    for ns in $(ip netns list | awk '{print $1}' | grep "^$P-" || true); do
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$DIR"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The switch: a bridge in a namespace of its own.
ip netns add "$SW"
ip -n "$SW" link add "$P-br" type bridge
ip -n "$SW" link set "$P-br" up
for i in $(seq 1 "$K"); do
    ns="$P-n$i"
    ip netns add "$ns"
    ip -n "$SW" link add "$P-h$i" type veth peer name "$P-e$i" netns "$ns"
    ip -n "$SW" link set "$P-h$i" master "$P-br" up
    ip -n "$ns" addr add "10.77.0.$i/24" dev "$P-e$i"
    ip -n "$ns" link set "$P-e$i" up
    ip -n "$ns" link set lo up
    if [[ -z "$FALLBACK" ]]; then
        if ! err=$(ip netns exec "$ns" tc qdisc add dev "$P-e$i" root netem delay "${DELAY}ms" loss "${LOSS}%" 2>&1); then
            echo "warning: no netem here ($err): this kernel lacks CONFIG_NET_SCH_NETEM; the ${DELAY} ms delay is added by each node to the UDP datagrams it sends (rumor node --latency)" >&2
            FALLBACK=nft
            NODE_LATENCY=$DELAY
            if ! command -v nft >/dev/null; then
                echo "nft is missing: installing nftables" >&2
                apt-get install -y nftables >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y nftables >/dev/null 2>&1; } || true
            fi
        fi
    fi
    if [[ "$FALLBACK" == nft ]]; then
        # The loss in the kernel instead: a rule in the node's own namespace
        # drops that share of every packet it sends, as netem would.
        if ! ip netns exec "$ns" nft -f - 2>/dev/null <<NFT
table inet $P {
    chain out {
        type filter hook output priority 0; policy accept;
        oifname "$P-e$i" counter
        oifname "$P-e$i" numgen random mod 10000 < $(awk -v l="$LOSS" 'BEGIN { printf "%d", l * 100 }') counter drop
    }
}
NFT
        then
            echo "warning: no nftables either: the loss is injected by each node on its outgoing UDP datagrams instead (rumor node --loss)" >&2
            FALLBACK=node
            for j in $(seq 1 $((i - 1))); do ip netns exec "$P-n$j" nft delete table inet "$P" 2>/dev/null || true; done
        fi
    fi
    if [[ "$FALLBACK" == node ]]; then
        NODE_LOSS=$(awk -v l="$LOSS" 'BEGIN { printf "%.4f", l / 100 }')
    fi
done

"$BIN" keygen --out "$DIR/cluster.key" >/dev/null
# Each node reads commands from a FIFO the script holds open (read-write, so
# neither side waits for the other and the node never sees its stdin end).
declare -A IN
start_node() {
    local i=$1; shift
    mkfifo "$DIR/in$i"
    exec {fd}<>"$DIR/in$i"
    IN[$i]=$fd
    ip netns exec "$P-n$i" "$BIN" node --bind "10.77.0.$i:7946" --key-file "$DIR/cluster.key" \
        ${NODE_LOSS:+--loss "$NODE_LOSS"} ${NODE_LATENCY:+--latency "$NODE_LATENCY"} "$@" \
        <"$DIR/in$i" >"$DIR/node$i.log" 2>&1 &
    PIDS+=("$!")
}
start_node 1
for i in $(seq 2 "$K"); do start_node "$i" --join 10.77.0.1:7946; done

say() { echo "$2" >&"${IN[$1]}"; }

# Until every node lists every other (at most 30 s).
started=$(date +%s%N)
formed=""
for _ in $(seq 150); do
    all=1
    for i in $(seq 1 "$K"); do
        say "$i" members
    done
    sleep 0.2
    for i in $(seq 1 "$K"); do
        last=$(grep "members besides this one" "$DIR/node$i.log" | tail -n 1 | awk '{print $1}')
        [[ "${last:-0}" -eq $((K - 1)) ]] || all=0
    done
    if (( all == 1 )); then formed=$(( ($(date +%s%N) - started) / 1000000 )); break; fi
done
if [[ -z "$formed" ]]; then
    echo "error: the nodes did not all find each other in 30 s; node logs:" >&2
    tail -n 5 "$DIR"/node*.log >&2
    exit 1
fi

# The writes: distinct keys from node 1, 100 ms apart.
for w in $(seq 1 "$WRITES"); do
    say 1 "set w$w $w"
    sleep 0.1
done
# Until every other node printed every write (at most 30 s after the last).
expected=$(( (K - 1) * WRITES ))
for _ in $(seq 300); do
    got=$(cat "$DIR"/node*.log | grep -c '^change: set w' || true)
    (( got >= expected )) && break
    sleep 0.1
done

# delays.txt: "write node delay_ms", from each line
#   change: set w7 = 7 (by R1a2b3c4d, 23 ms after the write)
for i in $(seq 2 "$K"); do
    sed -n 's/^change: set w\([0-9]*\) = [0-9]* (by [^,]*, \(-\{0,1\}[0-9]*\) ms after the write)$/\1 '"$i"' \2/p' "$DIR/node$i.log"
done >"$DIR/delays.txt"
arrived=$(wc -l <"$DIR/delays.txt")

# Nearest-rank percentiles of a column of numbers on stdin.
percentiles() {
    sort -n | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "none"; exit }
        split("50 90 99", q, " ")
        line = ""
        for (j = 1; j <= 3; j++) { r = int((q[j] * NR + 99) / 100); if (r < 1) r = 1; line = line sprintf("p%s %d ms  ", q[j], v[r]) }
        printf "%smax %d ms  (n = %d, nearest rank)\n", line, v[NR], NR
    }'
}
case "$FALLBACK" in
    "") how="netem delay ${DELAY} ms and loss ${LOSS} % on each node's interface" ;;
    nft) how="no netem on this kernel: ${DELAY} ms added by each node to the UDP datagrams it sends (not TCP); ${LOSS} % of the packets each node sends dropped by nftables in its namespace" ;;
    *) how="no netem on this kernel: ${DELAY} ms added by each node to the UDP datagrams it sends (not TCP); ${LOSS} % of UDP datagrams dropped by each sending node" ;;
esac
echo "rumor node across network namespaces: $K nodes, $how, $WRITES writes on node 1, 100 ms apart"
echo "every node listed the $((K - 1)) others after $formed ms"
echo "arrivals: $arrived of $expected (write, node) pairs"
echo -n "one write to one node:   "
awk '{print $3}' "$DIR/delays.txt" | percentiles
echo -n "one write to every node: "
awk '{ if (!($1 in m) || $3 > m[$1]) m[$1] = $3; c[$1]++ } END { for (w in m) if (c[w] == '"$((K - 1))"') print m[w] }' "$DIR/delays.txt" | percentiles
for i in $(seq 1 "$K"); do
    say "$i" stats
done
sleep 0.3
refused=$(cat "$DIR"/node*.log | awk '/^refused /{ s += $2 } END { print s + 0 }')
echo "envelopes refused by all nodes: $refused"
if [[ "$FALLBACK" == nft ]]; then
    sent=0
    dropped=0
    for i in $(seq 1 "$K"); do
        # The first counter sees every packet sent, the second the dropped ones.
        counts=$(ip netns exec "$P-n$i" nft list table inet "$P" | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
        sent=$((sent + $(echo "$counts" | sed -n 1p)))
        dropped=$((dropped + $(echo "$counts" | sed -n 2p)))
    done
    echo "packets sent by all nodes: $sent, dropped by the loss rules: $dropped ($(awk -v d="$dropped" -v s="$sent" 'BEGIN { printf "%.1f", s ? 100 * d / s : 0 }') %)"
fi
