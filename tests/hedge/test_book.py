"""The book (hedge/book.py): the one writer of the ledger; everyone else reads a view that cannot write."""

import ast
import json
from decimal import Decimal
from pathlib import Path

import pytest

from hedge.app import App
from hedge.book import Book
from hedge.cluster.local import LocalCoordinator
from hedge.config import parse_params
from hedge.fmz import Api
from hedge.ledger import STORE_KEY, HedgePair, Ledger, LooseLeg

D = Decimal
HEDGE = Path(__file__).resolve().parents[2] / "hedge"
MUTATORS = {"setdefault", "pop", "popitem", "clear", "update"}


class Store(dict):
    """FMZ's _G: store(key) reads, store(key, value) writes."""

    def __call__(self, key, *value):
        if value:
            self[key] = value[0]
            return None
        return self.get(key)


def _open(book, **extra):
    return book.record_open(symbol="BTC_USDT", long_venue="binance", short_venue="okx", qty=D("0.02"),
                            long_price=D("50000"), short_price=D("50010"), fees=D("0.4"),
                            client_ids=("a", "b"), now_ms=1, **extra)


def test_the_view_cannot_write():
    book = Book(LocalCoordinator(), Store())
    pair = _open(book)
    view = book.ledger
    with pytest.raises(TypeError):
        view.pairs[pair.id + 1] = pair  # type: ignore[index]
    with pytest.raises(TypeError):
        view.loose[("okx", "BTC_USDT", "")] = LooseLeg("okx", "BTC_USDT", D("1"), D("1"), 0, "")  # type: ignore[index]
    with pytest.raises(AttributeError):
        view.next_id = 9  # type: ignore[misc]
    for command in ("record_open", "record_close", "add_loose", "journal", "clear_orders", "save"):
        assert not hasattr(view, command), command
    assert view.pairs[pair.id] == pair and view.next_id == 2  # reads see the book's writes


def test_a_pair_id_reserved_by_the_cluster_is_the_next_pairs_and_the_counter_moves_past_it():
    store = Store()
    book = Book(LocalCoordinator(), store)
    book.use_pair_id(7)
    assert _open(book).id == 7 and book.ledger.next_id == 8
    book.use_pair_id(None)  # no reservation: the local counter
    assert _open(book).id == 8
    book.save()
    again = Book(LocalCoordinator(), store)
    again.load()
    assert again.ledger == book.ledger and json.loads(store[STORE_KEY])["next_id"] == 9


def test_the_shared_state_moves_the_pair_counter_past_every_shared_pair():
    ledger = Ledger()
    shared = HedgePair(41, "BTC_USDT", "binance", "okx", D("0.01"), D("1"), D("1"), D("0"), D("0"), D("0"),
                       (), 0)
    ledger.take_shared(pairs={41: shared}, orders={}, loose={})
    assert ledger.next_id == 42 and ledger.pairs == {41: shared}
    ledger.take_shared(pairs={}, orders={}, loose={})  # nothing shared: the counter stays
    assert ledger.next_id == 42


def test_results_outside_a_close_are_booked_with_their_fees():
    book = Book(LocalCoordinator(), Store())
    book.book_result(D("1.5"), D("0.2"))
    book.book_result(D("-0.5"))
    assert (book.ledger.realized_pnl, book.ledger.fees_paid) == (D("1.0"), D("0.2"))


def test_the_app_reads_through_the_view(fake_exchange, fake_runtime):
    binance = fake_exchange("binance", books={"BTC_USDT": (50_000.0, 50_000.5)})
    okx = fake_exchange("okx", ct_val=0.01, lot=0.1, min_qty=0.1, books={"BTC_USDT": (50_000.0, 50_000.5)})
    runtime = fake_runtime([binance, okx])
    app = App(Api.from_globals(runtime.globals()), parse_params(json.dumps({"symbols": ["BTC_USDT"]})))
    assert app.start()
    with pytest.raises(AttributeError):
        app.ledger = Ledger()  # type: ignore[misc]
    assert app.ledger is app.book.ledger


def test_only_the_book_writes_the_ledger():
    """No module of hedge/ but book.py (and ledger.py itself) calls a ledger command or assigns to a ledger
    field; the coordinator loads the shared state through Ledger.take_shared, its store's one door."""
    commands = {"record_open", "record_close", "record_funding", "add_loose", "set_loose", "journal",
                "clear_orders", "next_client_id", "use_id", "drop_pairs", "book_result"}
    found = []
    for path in sorted(HEDGE.rglob("*.py")):
        if path.name in ("book.py", "ledger.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            target = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in commands:
                    target = node.func.value
                elif node.func.attr in MUTATORS and isinstance(node.func.value, ast.Attribute):
                    target = node.func.value.value  # ledger.loose.setdefault(...)
            elif isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
                targets = [node.target] if isinstance(node, ast.AugAssign) else node.targets
                written = [t.value for t in targets if isinstance(t, ast.Attribute | ast.Subscript)]
                target = written[0] if written else None
                while isinstance(target, (ast.Attribute, ast.Subscript)) and not _is_ledger(target):
                    target = target.value
            if target is not None and _is_ledger(target):
                found.append(f"{path.relative_to(HEDGE.parent)}:{node.lineno}")
    assert found == []


def _is_ledger(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "ledger") or (
        isinstance(node, ast.Name) and node.id == "ledger")
