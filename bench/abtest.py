"""Two versions of the API server loaded at the same time: which one is faster.

    bench/run abtest [--base REV] [--new REV] [--mode get|create] [--rounds N]
                     [--new-flags "FLAGS"] [--turns]

On these machines a figure drifts by +-20% within minutes, so a before and
an after measured one after the other say little. Here both servers run at
once, each with its own data dir and port, each loaded by its own wrk (the
same connections for the same seconds), and every round reports new/base:
both share whatever the machine does in those seconds. Two copies of the
same code read 0.95-1.05 per round most of the time, 0.85-1.15 at worst, so
only the mean of several rounds (6 by default) outside +-5% says anything.
`--base` defaults to HEAD and `--new` to the working tree as it is
(uncommitted changes included); a revision is checked out into a temporary
git worktree. `--new-flags` are added to the new server's command line
(`--new-flags "--api-processes 2"`); a change that is about using more of
the machine cannot be measured with both servers sharing it: `--turns` loads
one server at a time instead (base, then new, in each round), which makes
each round's ratio as noisy as the minutes it spans.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import ssl
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench._wrk import WrkReport, create_script, get_script, run_wrk, wrk_binary
from bench.apiserver import ServerProcess, pod_body, pods_path
from tests.support.etcd import free_port

__all__ = ["Round", "main", "rate", "summary"]

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "abtest"
PLACEHOLDER = "abtest-name"
SAME_CODE_BAND = (0.95, 1.05)  # a mean two copies of the same server stay within


@dataclass(frozen=True, slots=True)
class Round:
    base: WrkReport
    new: WrkReport

    @property
    def ratio(self) -> float:
        return rate(self.new) / rate(self.base) if rate(self.base) else float("inf")


def rate(report: WrkReport) -> float:
    return report.requests / report.seconds if report.seconds else 0.0


def summary(rounds: Sequence[Round]) -> str:
    """The rounds' new/base ratios in one line, and what they allow one to say."""
    ratios = [r.ratio for r in rounds]
    mean = statistics.fmean(ratios)
    low, high = SAME_CODE_BAND
    if mean > high:
        verdict = "new is faster"
    elif mean < low:
        verdict = "new is slower"
    else:
        verdict = "no difference this test can see"
    return (f"new/base mean {mean:.3f} (rounds {min(ratios):.3f}-{max(ratios):.3f}, "
            f"n={len(ratios)}): {verdict}")  # fmt: skip


class CheckoutError(Exception):
    pass


@contextlib.contextmanager
def source_tree(rev: str, tmp: Path, name: str) -> Iterator[Path]:
    """The checkout to run: this one for ".", else `rev` in a temporary worktree."""
    if rev == ".":
        yield ROOT
        return
    tree = tmp / name
    added = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach",
                            str(tree), rev], capture_output=True, text=True)  # fmt: skip
    if added.returncode != 0:
        raise CheckoutError(f"cannot check out {rev!r}: {added.stderr.strip()}")
    try:
        yield tree
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                       check=False)  # fmt: skip


def server(
    tree: Path, tmp: Path, name: str, token_file: Path, flags: Sequence[str] = ()
) -> ServerProcess:
    # Compiled as bench/run compiles this checkout: every start would compile again.
    subprocess.run([sys.executable, "-m", "compileall", "-q", "kybernetes"], cwd=tree,
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    port = free_port()
    alone = ["--disable", "kubelet", "--disable", "controller-manager", "--disable", "scheduler"]
    # `-m` from the tree's root: its package comes before the installed one.
    args = ["env", "-C", str(tree), f"PYTHONPATH={tree}", sys.executable, "-m", "kybernetes",
            "server", *alone, "--data-dir", str(tmp / name), "--port", str(port),
            "--bind-address", "127.0.0.1", "--token-auth-file", str(token_file),
            *flags]  # fmt: skip
    return ServerProcess(f"{name} ({tree})", args, port=port, log_path=tmp / f"{name}.log")


async def prepare(session: aiohttp.ClientSession, api: ServerProcess, token: str) -> str:
    """A namespace and one pod in it; the URL the mode's wrk loads."""
    headers = {"Authorization": f"Bearer {token}"}
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    async with session.post(api.url + "/api/v1/namespaces", json=namespace, headers=headers) as r:
        r.raise_for_status()
    path = pods_path(NAMESPACE)
    async with session.post(api.url + path, data=pod_body("one"), headers={
            **headers, "Content-Type": "application/json"}) as r:  # fmt: skip
        r.raise_for_status()
    return api.url + path


async def run(args: argparse.Namespace, tmp: Path) -> list[Round]:
    token = secrets.token_hex(16)
    token_file = tmp / "tokens.csv"
    token_file.write_text(f'{token},abtest,abtest,"system:masters"\n')
    script = tmp / "load.lua"
    if args.mode == "get":
        script.write_text(get_script([pods_path(NAMESPACE, "one")]))
    else:
        script.write_text(create_script(pod_body(PLACEHOLDER), PLACEHOLDER))
    with source_tree(args.base, tmp, "base") as base_tree, \
            source_tree(args.new, tmp, "new") as new_tree:  # fmt: skip
        servers = [server(base_tree, tmp, "base", token_file),
                   server(new_tree, tmp, "new", token_file, args.new_flags.split())]  # fmt: skip
        try:
            for api in servers:
                api.start()
            insecure = ssl.create_default_context()
            insecure.check_hostname = False
            insecure.verify_mode = ssl.CERT_NONE  # our own servers on 127.0.0.1
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=insecure)) as s:
                for api in servers:
                    await api.wait_ready(s)
                urls = [await prepare(s, api, token) for api in servers]
            return await rounds(args, urls, token, script)
        finally:
            for api in servers:
                api.stop()


async def rounds(
    args: argparse.Namespace, urls: list[str], token: str, script: Path
) -> list[Round]:
    done: list[Round] = []
    for n in range(1, args.rounds + 1):
        # The prefix keeps each run's pod names apart.
        loads = [
            run_wrk(url, token=token, script=script, connections=args.connections,
                    seconds=args.seconds, args=(f"r{n}{side}-",))
            for side, url in zip("bn", urls, strict=True)
        ]  # fmt: skip
        if args.turns:
            base, new = [await load for load in loads]
        else:
            base, new = await asyncio.gather(*loads)
        done.append(Round(base, new))
        failed = "   (failed requests)" if base.errors or new.errors else ""
        print(f"  round {n}: base {rate(base):8,.0f}/s p99 {base.p99:6.2f} ms   "
              f"new {rate(new):8,.0f}/s p99 {new.p99:6.2f} ms   "
              f"new/base {done[-1].ratio:.3f}{failed}", flush=True)  # fmt: skip
    return done


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run abtest", description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="HEAD", help="revision to compare against (HEAD)")
    parser.add_argument("--new", default=".", help='revision to measure ("." = this checkout)')
    parser.add_argument("--mode", choices=("get", "create"), default="get",
                        help="GET of one pod, or pod creates")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=25, help="per server")
    parser.add_argument("--new-flags", default="", help="more `kyb server` flags for new")
    parser.add_argument("--turns", action="store_true",
                        help="load one server at a time, not both at once")  # fmt: skip
    args = parser.parse_args(argv)
    if wrk_binary() is None:
        print("bench/run abtest: wrk is not installed (scripts/setup.sh installs it)",
              file=sys.stderr)  # fmt: skip
        return 2
    new = "(this checkout)" if args.new == "." else args.new
    flags = f" {args.new_flags}" if args.new_flags else ""
    how = "one at a time" if args.turns else "both at once"
    print(f"== {args.mode} x{args.connections} per server, base {args.base} against new "
          f"{new}{flags}, {how}", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="kyb-abtest-") as tmp:
        try:
            done = asyncio.run(run(args, Path(tmp)))
        except CheckoutError as err:
            print(f"bench/run abtest: {err}", file=sys.stderr)
            return 2
    print(summary(done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
