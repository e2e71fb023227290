"""The config file's schema (pydantic, used at load time only, never on the request path)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from hybridllm.providers.registry import PROVIDERS, Wire

__all__ = [
    "Alerts",
    "Budget",
    "ClassifierConfig",
    "Config",
    "Deployment",
    "DispatchConfig",
    "Escalate",
    "Judge",
    "Learning",
    "Limits",
    "PiiConfig",
    "Price",
    "Route",
    "ServerConfig",
    "ServerKey",
    "StateOptions",
    "Timeouts",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Price(_Strict):
    """USD per one million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float | None = Field(default=None, ge=0)
    cache_write: float | None = Field(default=None, ge=0)
    batch_discount: float | None = Field(default=None, gt=0, le=1)  # multiplier, 0.5 = half price


class Limits(_Strict):
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)


class Timeouts(_Strict):
    """Seconds. ``first_token``: until the first byte of the answer; ``idle``: between chunks."""

    connect: float = Field(default=10.0, gt=0)
    first_token: float = Field(default=30.0, gt=0)
    idle: float = Field(default=30.0, gt=0)
    total: float = Field(default=120.0, gt=0)


class Deployment(_Strict):
    """One model at one provider. ``name`` is filled in from the mapping key."""

    name: str = ""
    provider: str
    model: str
    base_url: str | None = None
    api_key: SecretStr | None = None
    tier: int = 3
    locality: Literal["local", "cloud"] | None = None
    price: Price | None = None
    cost_per_hour: float | None = Field(default=None, ge=0)
    context_window: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    limits: Limits = Limits()
    timeout: Timeouts = Timeouts()
    headers: dict[str, str] = {}
    fallbacks: list[str] = []  # tried after this deployment wherever it stands in a chain
    # Local models (provider llamacpp in-process, ollama over HTTP). See docs/local.md.
    model_path: str | None = None  # llamacpp: a GGUF file; absent: the bundled small model
    n_ctx: int | None = Field(default=None, gt=0)  # llamacpp: context size (default 4096)
    n_threads: int | None = Field(default=None, gt=0)  # llamacpp: CPU threads per instance
    max_concurrency: int = Field(default=1, ge=1, le=64)  # llamacpp: generations at once
    chat_format: str | None = None  # llamacpp: default the GGUF's template, else "plain"
    keep_alive: str | int | None = None  # ollama: how long the model stays loaded ("30m", -1)
    warm_up: bool = False  # load the model when the engine starts, not on the first request

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        if value not in PROVIDERS:
            raise ValueError(f"unknown provider '{value}'; known: {', '.join(sorted(PROVIDERS))}")
        return value

    @property
    def wire(self) -> Wire:
        return PROVIDERS[self.provider].wire

    @property
    def url(self) -> str:
        """The base URL, the provider's default when the config gives none."""
        return (self.base_url or PROVIDERS[self.provider].base_url).rstrip("/")

    @property
    def is_local(self) -> bool:
        return (self.locality or PROVIDERS[self.provider].locality) == "local"

    @property
    def where(self) -> Literal["local", "cloud"]:
        return "local" if self.is_local else "cloud"

    @property
    def needs_key(self) -> bool:
        """A cloud deployment of a provider that authenticates with an API key."""
        return not self.is_local and PROVIDERS[self.provider].key_env is not None

    @property
    def missing_key(self) -> bool:
        """It needs a key and has none: calling it could only fail."""
        return self.needs_key and self.api_key is None

    @property
    def key(self) -> str | None:
        return self.api_key.get_secret_value() if self.api_key else None


class Escalate(_Strict):
    min_chars: int = Field(default=0, ge=0)
    phrases: list[str] = []


class Route(_Strict):
    name: str
    when: dict[str, Any] | None = None
    use: list[str] = Field(min_length=1)
    private: bool = False
    escalate: Escalate | None = None
    max_queue_wait: float | None = Field(default=None, ge=0)  # local queue wait before spilling


class PiiConfig(_Strict):
    detectors: (
        list[
            Literal[
                "email",
                "phone",
                "credit_card",
                "iban",
                "ssn",
                "national_id",
                "ip_address",
                "api_key",
            ]
        ]
        | None
    ) = None
    extra_patterns: dict[str, str] = {}


class ClassifierConfig(_Strict):
    task_types: dict[str, list[str]] = {}
    complexity: dict[Literal["low", "medium", "high"], list[str]] = {}
    replace_defaults: bool = False  # True: the keyword sets above replace the shipped ones
    pii: PiiConfig = PiiConfig()


class Budget(_Strict):
    cost_center: str | None = None
    key: str | None = None
    daily_usd: float | None = Field(default=None, gt=0)
    monthly_usd: float | None = Field(default=None, gt=0)
    action: Literal["alert", "downgrade", "reject"] = "alert"


class Alerts(_Strict):
    webhook: str | None = None
    at: list[float] = [0.8, 1.0]


class ServerKey(_Strict):
    name: str
    key_sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    cost_center: str | None = None
    admin: bool = False


class ServerConfig(_Strict):
    keys: list[ServerKey] = []
    max_body_bytes: int = Field(default=10 * 1024 * 1024, gt=0)


class DispatchConfig(_Strict):
    """How dispatch retries and when breakers open. Seconds throughout."""

    max_attempts: int = Field(default=3, ge=1, le=20)
    deadline: float = Field(default=180.0, gt=0)
    backoff_base: float = Field(default=0.25, ge=0)
    backoff_max: float = Field(default=8.0, ge=0)
    breaker_window: float = Field(default=60.0, gt=0)
    breaker_min_calls: int = Field(default=5, ge=1)
    breaker_failure_rate: float = Field(default=0.5, gt=0, le=1)
    breaker_cooldown: float = Field(default=15.0, gt=0)
    breaker_cooldown_max: float = Field(default=300.0, gt=0)


class StateOptions(_Strict):
    """How a shared ``state:`` store (Redis) is used. Seconds throughout. See docs/deploy.md."""

    key_prefix: str = Field(default="hybridllm:", max_length=200)
    socket_timeout: float = Field(default=0.5, gt=0, le=30)  # every Redis call
    connect_timeout: float = Field(default=0.5, gt=0, le=30)
    max_connections: int = Field(default=64, ge=2, le=10_000)  # the pool, per process
    sync_interval: float = Field(default=0.2, ge=0.02, le=5)  # breaker/cool-down cache refresh
    hold_ttl: float | None = Field(default=None, gt=0)  # reservations; default max(900, 2*deadline)
    rebuild_interval: float = Field(default=300.0, gt=0)  # spend re-checked against the ledger
    budgets_on_outage: Literal["fail_closed", "fail_open"] = "fail_closed"
    fallback_replicas: int = Field(default=1, ge=1)  # outage: each process gets limit/N


class Judge(_Strict):
    """A sampled second opinion on cheap-tier answers (see docs/learning.md)."""

    deployment: str  # the judge: compares the cheap answer with the strong one
    strong: str  # the reference: answers the same prompt again
    sample: float = Field(default=0.05, ge=0, le=1)  # share of cheap-tier answers judged
    max_concurrency: int = Field(default=2, ge=1, le=64)  # judgements in flight; more are skipped


class Learning(_Strict):
    """Learning from the user's own traffic: the model ``difficulty`` uses, what is recorded."""

    model: str | None = None  # difficulty artifact; unset or not written yet: the shipped one
    record: bool = False  # keep each request's features (never its text) for `hybridllm learn`
    judge: Judge | None = None

    @property
    def observes(self) -> bool:
        """Whether the runtime watches completed requests (to record features or judge)."""
        return self.record or self.judge is not None


class Config(_Strict):
    deployments: dict[str, Deployment] = Field(min_length=1)
    baseline: str | None = None
    routes: list[Route] = Field(min_length=1)
    classifier: ClassifierConfig = ClassifierConfig()
    budgets: list[Budget] = []
    alerts: Alerts = Alerts()
    ledger: str = "sqlite:///hybridllm.db"
    state: str = Field(
        default="memory", pattern=r"^(memory|redis://.*|rediss://.*|postgres(ql)?://.*)$"
    )
    state_options: StateOptions = StateOptions()
    server: ServerConfig = ServerConfig()
    dispatch: DispatchConfig = DispatchConfig()
    learning: Learning = Learning()
