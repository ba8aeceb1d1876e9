#!/usr/bin/env python3
"""The worked example of docs/PROTOCOL.md ("Envelope"), computed independently of
the Rust code: SHA-256 from hashlib, HChaCha20 written out below, and the IETF
ChaCha20-Poly1305 (RFC 8439) of the `cryptography` package (pip install
cryptography). XChaCha20-Poly1305 is ChaCha20-Poly1305 under the HChaCha20
subkey of (key, nonce[0..16]), with the nonce 0x00000000 || nonce[16..24].

Run it: python3 scripts/envelope-vector.py. Its output must match PROTOCOL.md,
which the test `the_header_layout_is_the_one_in_protocol_md` in
crates/rumor-net/src/envelope.rs pins for the Rust side.
"""
import hashlib
import struct

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305


def rotl(v, c):
    return ((v << c) & 0xFFFFFFFF) | (v >> (32 - c))


def quarter_round(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = rotl(s[b] ^ s[c], 7)


def hchacha20(key, nonce16):
    s = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    s += list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))
    for _ in range(10):
        quarter_round(s, 0, 4, 8, 12); quarter_round(s, 1, 5, 9, 13)
        quarter_round(s, 2, 6, 10, 14); quarter_round(s, 3, 7, 11, 15)
        quarter_round(s, 0, 5, 10, 15); quarter_round(s, 1, 6, 11, 12)
        quarter_round(s, 2, 7, 8, 13); quarter_round(s, 3, 4, 9, 14)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


def xchacha20poly1305_seal(key, nonce24, plaintext, associated_data):
    subkey = hchacha20(key, nonce24[:16])
    return ChaCha20Poly1305(subkey).encrypt(b"\0" * 4 + nonce24[16:], plaintext, associated_data)


# The HChaCha20 test vector of draft-irtf-cfrg-xchacha-03, section 2.2.1.
assert hchacha20(bytes(range(32)), bytes.fromhex("000000090000004a0000000031415927")).hex() == (
    "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc"
)

key = bytes(range(32))
label = b"example"
key_id = hashlib.sha256(b"rumor-net key id\0" + key).digest()[:4]
cluster_id = hashlib.sha256(b"rumor-net cluster id\0" + label).digest()[:4]
nonce = struct.pack("<Q", 1_700_000_000_000) + bytes(0xA0 + i for i in range(16))
sender = (0x42).to_bytes(16, "big")
incarnation = struct.pack("<Q", 7)
header = b"RMR" + bytes([1, 0]) + key_id + cluster_id + nonce + sender + incarnation
assert len(header) == 61
sealed = xchacha20poly1305_seal(key, nonce, b"hello", header + label)

print("key id            ", key_id.hex())
print("cluster id        ", cluster_id.hex())
print("HChaCha20 subkey  ", hchacha20(key, nonce[:16]).hex())
print("header            ", header.hex())
print("ciphertext        ", sealed[:-16].hex())
print("tag               ", sealed[-16:].hex())
