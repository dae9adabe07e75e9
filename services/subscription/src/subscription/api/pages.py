"""The service's pages: its templates (`subscription/templates/`, on the suite's shared layout)
and the words they show. The catalogue is for users, so in Chinese only."""

from __future__ import annotations

from pathlib import Path

from vas_common.pages import Language, Messages, Pages

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"

MESSAGES: Messages = {
    Language.ZH_CN: {
        "catalogue_title": "业务与资费",
        "catalogue_code": "短信代码",
        "catalogue_ends": "停止服务日期",
        "catalogue_empty": "暂无在售业务。",
        "catalogue_provider": "提供方",
        "catalogue_price": "资费",
        "catalogue_description": "业务功能",
        "catalogue_availability": "适用范围",
        "catalogue_how_to_cancel": "退订方式",
        "catalogue_charge_rule": "收费规则",
        "catalogue_month_rules": "首月与退订当月",
        "catalogue_fault_hotline": "故障电话",
        "catalogue_consult_hotline": "咨询电话",
    },
}


def subscription_pages(provider_name: str) -> Pages:
    return Pages(TEMPLATES, MESSAGES, site_name=provider_name)
