"""The edge agent: polls BMUs/CMUs over Modbus, keeps a local outbox, uploads to the portal.

It runs on a small box next to the batteries, so it imports nothing from Django or the portal:
only the standard library, pymodbus/pyserial and (optionally) orjson. See ``docs/agent.md``.
"""

__version__ = "0.1.0"
