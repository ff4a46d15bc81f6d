"""Tokens -> cost through litellm's offline cost map, with user prices for unknown models."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import orjson
import yaml

from tracemill.errors import ConfigError

Price = tuple[float, float]   # (input cost per token, output cost per token)


def load_prices(path: str | None) -> dict[str, Price]:
    """User prices: YAML/JSON mapping model -> {input_cost_per_token, output_cost_per_token}."""
    if not path:
        return {}
    p = Path(path)
    if not p.is_file():
        raise ConfigError("prices file not found", value=path, fix="set TRACEMILL_PRICES_FILE to an existing YAML/JSON file")
    data = yaml.safe_load(p.read_text()) or {}
    out: dict[str, Price] = {}
    for model, spec in data.items():
        try:
            out[model] = (float(spec["input_cost_per_token"]), float(spec["output_cost_per_token"]))
        except (KeyError, TypeError, ValueError):
            raise ConfigError(
                f"bad price entry for model {model!r}",
                value=spec,
                fix="give input_cost_per_token and output_cost_per_token as numbers",
            ) from None
    return out


@lru_cache(maxsize=1)
def _litellm_map() -> dict:
    """litellm's offline cost map: the JSON it ships, read without importing litellm (slow, and
    litellm fetches a remote map at import unless LITELLM_LOCAL_MODEL_COST_MAP is set)."""
    import importlib.util

    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("litellm is not installed", fix="make install")
    path = Path(next(iter(spec.submodule_search_locations))) / "model_prices_and_context_window_backup.json"
    return orjson.loads(path.read_bytes())


class CostModel:
    """Prices per model, resolved once per model name and cached."""

    def __init__(self, user_prices: dict[str, Price] | None = None) -> None:
        self.user_prices = user_prices or {}
        self._cache: dict[str, Price | None] = {}
        self.unknown: set[str] = set()

    def price(self, model: str | None, provider: str | None = None) -> Price | None:
        if not model:
            return None
        key = f"{provider}/{model}" if provider else model
        if key in self._cache:
            return self._cache[key]
        found: Price | None = None
        candidates = [model, key, model.split("/")[-1]]
        for c in candidates:
            if c in self.user_prices:
                found = self.user_prices[c]
                break
        if found is None:
            table = _litellm_map()
            for c in candidates:
                info = table.get(c)
                if info and info.get("input_cost_per_token") is not None:
                    found = (float(info["input_cost_per_token"]), float(info.get("output_cost_per_token") or 0.0))
                    break
        if found is None:
            self.unknown.add(model)
        self._cache[key] = found
        return found

    def cost(self, model: str | None, provider: str | None, input_tokens: int | None, output_tokens: int | None) -> float | None:
        if input_tokens is None and output_tokens is None:
            return None
        p = self.price(model, provider)
        if p is None:
            return None
        return (input_tokens or 0) * p[0] + (output_tokens or 0) * p[1]


def dumps_prices(prices: dict[str, Price]) -> bytes:
    return orjson.dumps({k: {"input_cost_per_token": a, "output_cost_per_token": b} for k, (a, b) in prices.items()})
