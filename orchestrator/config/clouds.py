"""The Azure clouds a run can target: where each one's ARM lives, and how to log in to it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final


class Cloud(StrEnum):
    AZURE_CLOUD = "AzureCloud"
    AZURE_US_GOVERNMENT = "AzureUSGovernment"
    AZURE_CHINA_CLOUD = "AzureChinaCloud"


@dataclass(frozen=True, slots=True)
class CloudEndpoints:
    """Where a national cloud's ARM lives, the audience of its tokens, and its login host."""

    arm_endpoint: str
    token_audience: str
    authority_host: str


# Authority hosts as in azure.identity.AzureAuthorityHosts.
CLOUDS: Final[Mapping[Cloud, CloudEndpoints]] = MappingProxyType(
    {
        Cloud.AZURE_CLOUD: CloudEndpoints(
            "https://management.azure.com",
            "https://management.core.windows.net/",
            "login.microsoftonline.com",
        ),
        Cloud.AZURE_US_GOVERNMENT: CloudEndpoints(
            "https://management.usgovcloudapi.net",
            "https://management.core.usgovcloudapi.net/",
            "login.microsoftonline.us",
        ),
        Cloud.AZURE_CHINA_CLOUD: CloudEndpoints(
            "https://management.chinacloudapi.cn",
            "https://management.core.chinacloudapi.cn/",
            "login.chinacloudapi.cn",
        ),
    }
)
