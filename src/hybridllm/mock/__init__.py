"""A fake OpenAI / Anthropic / Gemini upstream on loopback HTTP, with programmable faults.

Used by the tests of the whole project and by ``hybridllm mock-upstream`` to try a config without
keys. See :mod:`hybridllm.mock.server` for the URL layout and :mod:`hybridllm.mock.faults` for the
fault rules.
"""

from hybridllm.mock.faults import FaultRule, load_faults_file
from hybridllm.mock.records import RecordedRequest
from hybridllm.mock.run import run
from hybridllm.mock.server import MockUpstream

__all__ = ["FaultRule", "MockUpstream", "RecordedRequest", "load_faults_file", "run"]
