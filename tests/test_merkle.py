"""Merkle tree hashing: the published RFC 6962 reference vectors, then every root and proof of
small trees against a naive reading of the RFC, and the verifiers against corrupted proofs."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest

from bots.evidence import merkle
from bots.evidence.merkle import (
    EMPTY_ROOT,
    Frontier,
    Tree,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

# -- the reference vectors ---------------------------------------------------------------------
# The 8-leaf reference tree of the Certificate Transparency tests, and its roots and proofs:
#   https://github.com/google/certificate-transparency/blob/master/cpp/merkletree/merkle_tree_test.cc
#     (kInputs, kSHA256Roots, kSHA256Paths, kSHA256Proofs)
#   https://github.com/transparency-dev/merkle/blob/main/proof/verify_test.go
#     (leaves, roots, inclusionProofs, consistencyProofs: the same values plus the 6 -> 7 proof)
#   https://github.com/transparency-dev/merkle/blob/main/testonly/constants.go (LeafInputs, RootHashes)
# Both number the leaves of inclusion proofs from 1; INCLUSION_PROOFS below numbers them from 0.

LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
]

EMPTY_ROOT_HEX = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

ROOTS = {  # tree size -> MTH of the first `size` leaves
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}

INCLUSION_PROOFS = [  # (leaf index from 0, tree size, PATH)
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

CONSISTENCY_PROOFS = [  # (old size, size, PROOF)
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

REFERENCE_LEAVES = [leaf_hash(data) for data in LEAF_INPUTS]
REFERENCE_TREE = Tree(REFERENCE_LEAVES)


def hashes(hex_list: Sequence[str]) -> list[bytes]:
    return [bytes.fromhex(h) for h in hex_list]


def test_the_empty_tree_has_the_hash_of_the_empty_string() -> None:
    assert EMPTY_ROOT.hex() == EMPTY_ROOT_HEX
    assert merkle.root([]) == Frontier().root() == Tree([]).root() == EMPTY_ROOT
    assert Tree(REFERENCE_LEAVES).root(0) == EMPTY_ROOT


def test_leaves_and_nodes_are_hashed_with_their_prefixes() -> None:
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest() == bytes.fromhex(ROOTS[1])
    left, right = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()


@pytest.mark.parametrize("size", sorted(ROOTS))
def test_the_reference_roots_at_every_size(size: int) -> None:
    expected = bytes.fromhex(ROOTS[size])
    frontier = Frontier()
    for hashed in REFERENCE_LEAVES[:size]:
        frontier.append(hashed)
    assert REFERENCE_TREE.root(size) == expected
    assert Tree(REFERENCE_LEAVES[:size]).root() == expected
    assert merkle.root(REFERENCE_LEAVES[:size]) == expected
    assert frontier.root() == expected and frontier.size == size


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION_PROOFS)
def test_the_reference_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    assert REFERENCE_TREE.inclusion_proof(index, size) == hashes(path)
    assert verify_inclusion(REFERENCE_LEAVES[index], index, size, hashes(path), bytes.fromhex(ROOTS[size]))


@pytest.mark.parametrize(("old_size", "size", "proof"), CONSISTENCY_PROOFS)
def test_the_reference_consistency_proofs(old_size: int, size: int, proof: list[str]) -> None:
    assert REFERENCE_TREE.consistency_proof(old_size, size) == hashes(proof)
    old_root, new_root = bytes.fromhex(ROOTS[old_size]), bytes.fromhex(ROOTS[size])
    assert verify_consistency(old_size, size, old_root, new_root, hashes(proof))


# -- a naive reading of RFC 6962 §2.1, to check every small tree against ------------------------


def split(n: int) -> int:
    """k: the largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(leaves: Sequence[bytes]) -> bytes:
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return node_hash(naive_mth(leaves[:k]), naive_mth(leaves[k:]))


def naive_path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = split(len(leaves))
    if m < k:
        return [*naive_path(m, leaves[:k]), naive_mth(leaves[k:])]
    return [*naive_path(m - k, leaves[k:]), naive_mth(leaves[:k])]


def naive_subproof(m: int, leaves: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [naive_mth(leaves)]
    k = split(n)
    if m <= k:
        return [*naive_subproof(m, leaves[:k], b), naive_mth(leaves[k:])]
    return [*naive_subproof(m - k, leaves[k:], False), naive_mth(leaves[:k])]


LEAVES = [leaf_hash(i.to_bytes(2, "big")) for i in range(70)]
TREE = Tree(LEAVES)


def test_frontier_tree_and_naive_roots_agree_at_every_size_to_70() -> None:
    frontier = Frontier()
    for size in range(1, 71):
        frontier.append(LEAVES[size - 1])
        naive = naive_mth(LEAVES[:size])
        assert frontier.root() == naive, size
        assert TREE.root(size) == naive, size
        assert Tree(LEAVES[:size]).root() == naive, size


def test_frontier_keeps_one_hash_per_binary_digit_of_its_size() -> None:
    frontier = Frontier()
    for size in range(1, 71):
        frontier.append(LEAVES[size - 1])
        kept = frontier.to_dict()["hashes"]
        assert isinstance(kept, list) and len(kept) == bin(size).count("1")


def flipped(proof: Sequence[bytes], position: int) -> list[bytes]:
    changed = list(proof)
    changed[position] = bytes([changed[position][0] ^ 0x08]) + changed[position][1:]
    return changed


def corrupt_inclusions(index: int, size: int, proof: list[bytes]) -> list[tuple[int, int, list[bytes]]]:
    """The probes of the reference tests: wrong index, wrong size, changed or extra hashes."""
    probes = [
        (index - 1, size, proof),
        (index + 1, size, proof),
        (index ^ 2, size, proof),
        (index, size * 2, proof),
        (index, size // 2, proof),
        (index, size, [*proof, EMPTY_ROOT]),
        (index, size, [EMPTY_ROOT, *proof]),
    ]
    probes += [(index, size, flipped(proof, position)) for position in range(len(proof))]
    if proof:
        probes.append((index, size, proof[:-1]))
    return probes


@pytest.mark.parametrize("size", range(1, 41))
def test_every_inclusion_proof_to_size_40_verifies_and_corruptions_fail(size: int) -> None:
    root = TREE.root(size)
    for index in range(size):
        proof = TREE.inclusion_proof(index, size)
        assert proof == naive_path(index, LEAVES[:size])
        assert verify_inclusion(LEAVES[index], index, size, proof, root)
        assert not verify_inclusion(leaf_hash(b"another leaf"), index, size, proof, root)
        assert not verify_inclusion(LEAVES[index], index, size, proof, EMPTY_ROOT)
        for wrong_index, wrong_size, wrong_proof in corrupt_inclusions(index, size, proof):
            assert not verify_inclusion(LEAVES[index], wrong_index, wrong_size, wrong_proof, root), (
                index,
                size,
                wrong_index,
                wrong_size,
            )


def corrupt_consistencies(old_size: int, size: int, proof: list[bytes]) -> list[tuple[int, int, list[bytes]]]:
    probes = [
        (old_size - 1, size, proof),
        (old_size + 1, size, proof),
        (old_size ^ 2, size, proof),
        (old_size, size * 2, proof),
        (old_size, size // 2, proof),
        (old_size, size, []),
        (old_size, size, proof[:-1]),
        (old_size, size, [*proof, proof[-1]]),
        (old_size, size, [proof[0], *proof]),
    ]
    return probes + [(old_size, size, flipped(proof, position)) for position in range(len(proof))]


@pytest.mark.parametrize("size", range(1, 41))
def test_every_consistency_proof_to_size_40_verifies_and_corruptions_fail(size: int) -> None:
    root = TREE.root(size)
    for old_size in range(0, size + 1):
        old_root = TREE.root(old_size)
        proof = TREE.consistency_proof(old_size, size)
        expected = [] if old_size in (0, size) else naive_subproof(old_size, LEAVES[:size], True)
        assert proof == expected
        assert verify_consistency(old_size, size, old_root, root, proof)
        if not proof:
            continue  # as in the reference tests: only proofs with something to corrupt
        assert not verify_consistency(old_size, size, root, old_root, proof)  # swapped roots
        assert not verify_consistency(old_size, size, EMPTY_ROOT, root, proof)
        assert not verify_consistency(old_size, size, old_root, EMPTY_ROOT, proof)
        for wrong_old, wrong_size, wrong_proof in corrupt_consistencies(old_size, size, proof):
            assert not verify_consistency(wrong_old, wrong_size, old_root, root, wrong_proof), (
                old_size,
                size,
                wrong_old,
                wrong_size,
            )


def test_consistency_edge_cases_of_the_verifier() -> None:
    some_root = leaf_hash(b"x")
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 5, EMPTY_ROOT, some_root, [])  # the empty tree precedes every tree
    assert not verify_consistency(0, 5, some_root, some_root, [])  # but its root is EMPTY_ROOT
    assert not verify_consistency(0, 5, EMPTY_ROOT, some_root, [some_root])
    assert verify_consistency(3, 3, some_root, some_root, [])
    assert not verify_consistency(3, 3, some_root, EMPTY_ROOT, [])
    assert not verify_consistency(3, 3, some_root, some_root, [some_root])
    assert not verify_consistency(2, 1, some_root, some_root, [])  # trees do not shrink
    assert not verify_consistency(1, 2, some_root, some_root, [])  # growth needs a proof
    assert not verify_consistency(1, 2, b"short", some_root, [some_root])


def test_inclusion_edge_cases_of_the_verifier() -> None:
    hashed = leaf_hash(b"data")
    assert verify_inclusion(hashed, 0, 1, [], hashed)  # a one-leaf tree's root is its leaf
    assert not verify_inclusion(hashed, 0, 0, [], hashed)
    assert not verify_inclusion(hashed, 1, 1, [], hashed)
    assert not verify_inclusion(hashed, -1, 1, [], hashed)
    assert not verify_inclusion(b"", 0, 1, [], b"")
    assert not verify_inclusion(hashed, 0, 2, [b"short"], hashed)


def test_a_large_tree_answers_proofs_that_verify() -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(100_003)]
    tree = Tree(leaves)
    assert tree.size == 100_003
    assert tree.root() == merkle.root(leaves)
    for index, size in [(0, 100_003), (100_002, 100_003), (65_536, 70_001), (4_095, 4_096)]:
        assert verify_inclusion(leaves[index], index, size, tree.inclusion_proof(index, size), tree.root(size))
    for old_size, size in [(1, 100_003), (65_536, 100_003), (70_001, 99_999), (99_999, 100_003)]:
        proof = tree.consistency_proof(old_size, size)
        assert verify_consistency(old_size, size, tree.root(old_size), tree.root(size), proof)


def test_tree_refuses_indexes_and_sizes_outside_it() -> None:
    with pytest.raises(ValueError, match="outside"):
        REFERENCE_TREE.inclusion_proof(8)
    with pytest.raises(ValueError, match="outside"):
        REFERENCE_TREE.inclusion_proof(3, 3)
    with pytest.raises(ValueError, match="tree size 8"):
        REFERENCE_TREE.root(9)
    with pytest.raises(ValueError, match="old size"):
        REFERENCE_TREE.consistency_proof(5, 4)
    with pytest.raises(ValueError, match="leaf hash 1"):
        Tree([leaf_hash(b"a"), b"short"])
    with pytest.raises(ValueError):
        Frontier().append(b"short")


def test_frontier_round_trips_through_a_dict() -> None:
    for size in (0, 1, 7, 8, 70):
        frontier = Frontier()
        for hashed in LEAVES[:size]:
            frontier.append(hashed)
        again = Frontier.from_dict(frontier.to_dict())
        assert again.size == size and again.root() == frontier.root()
        # It goes on growing like the original.
        again.append(leaf_hash(b"next"))
        frontier.append(leaf_hash(b"next"))
        assert again.root() == frontier.root()


def test_frontier_dict_keeps_extra_keys_out_of_the_way() -> None:
    frontier = Frontier()
    frontier.append(LEAVES[0])
    assert Frontier.from_dict({**frontier.to_dict(), "offset": 120}).root() == LEAVES[0]


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"size": 1},
        {"hashes": []},
        {"size": -1, "hashes": []},
        {"size": True, "hashes": [LEAVES[0].hex()]},
        {"size": "1", "hashes": [LEAVES[0].hex()]},
        {"size": 1, "hashes": []},  # one hash per binary digit 1 of the size
        {"size": 3, "hashes": [LEAVES[0].hex()]},
        {"size": 1, "hashes": ["zz" * 32]},
        {"size": 1, "hashes": [LEAVES[0].hex()[:-2]]},
        {"size": 1, "hashes": [7]},
        {"size": 1, "hashes": LEAVES[0].hex()},
    ],
)
def test_frontier_from_dict_refuses_nonsense(data: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Frontier.from_dict(data)


def test_frontier_from_something_else_than_a_dict_is_refused() -> None:
    with pytest.raises(ValueError):
        Frontier.from_dict([1, 2])  # type: ignore[arg-type]
