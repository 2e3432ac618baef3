"""WhatsApp gateway adapters: one interface (base.WhatsAppGateway), one module per gateway.

gateway = build_gateway("evolution", base_url=..., api_key=..., instance=..., timeout=15.0)
gateway = build_gateway("meta", base_url=..., access_token=..., phone_number_id=..., api_version="v21.0")
gateway = gateway_from_settings(get_settings())
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from filas_campaigns.gateways.base import (
    GatewayError,
    GatewayPermanentError,
    GatewayTransientError,
    LookupUnsupported,
    NumberStatus,
    OutgoingMessage,
    RecipientRejected,
    SentMessage,
    WhatsAppGateway,
    mask_phone,
    mask_phones_in,
)
from filas_campaigns.gateways.evolution import EvolutionGateway
from filas_campaigns.gateways.meta_cloud import MetaCloudGateway

if TYPE_CHECKING:
    from filas.settings import Settings

__all__ = [
    "EvolutionGateway",
    "GatewayError",
    "GatewayPermanentError",
    "GatewayTransientError",
    "LookupUnsupported",
    "MetaCloudGateway",
    "NumberStatus",
    "OutgoingMessage",
    "RecipientRejected",
    "SentMessage",
    "WhatsAppGateway",
    "build_gateway",
    "gateway_from_settings",
    "mask_phone",
    "mask_phones_in",
]

_FACTORIES: dict[str, Callable[..., WhatsAppGateway]] = {
    "evolution": EvolutionGateway,
    "meta": MetaCloudGateway,
}


def build_gateway(name: str, **config: Any) -> WhatsAppGateway:
    """The adapter called `name` (case-insensitive), built with its own keyword arguments."""
    factory = _FACTORIES.get(name.strip().lower())
    if factory is None:
        raise ValueError(f"unknown WhatsApp gateway {name!r}; known: {sorted(_FACTORIES)}")
    return factory(**config)


def gateway_from_settings(settings: "Settings") -> WhatsAppGateway:
    """The gateway FILAS_WHATSAPP_GATEWAY names, configured from its FILAS_* settings."""
    name = settings.whatsapp_gateway.strip().lower()
    if name == "evolution":
        return build_gateway(
            name,
            base_url=settings.evolution_url,
            api_key=settings.evolution_api_key.get_secret_value(),
            instance=settings.evolution_instance,
            timeout=settings.gateway_timeout_seconds,
        )
    if name == "meta":
        return build_gateway(
            name,
            base_url=settings.meta_url,
            access_token=settings.meta_access_token.get_secret_value(),
            phone_number_id=settings.meta_phone_number_id,
            api_version=settings.meta_api_version,
            timeout=settings.gateway_timeout_seconds,
        )
    return build_gateway(name)  # raises for unknown names
