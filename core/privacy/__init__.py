"""Personal data (APPI, SPEC §4.11): where it lives (``registry``), how one person's is
found (``people``), replaced (``scrub``), exported and erased by staff (``desk``).

    async with core.uow() as uow:
        exported = await privacy.export(uow, staff_actor, "taro.yamada@example.jp")
        plan = await privacy.preview_erasure(uow, staff_actor, "taro.yamada@example.jp")
        erased = await privacy.erase(uow, staff_actor, "taro.yamada@example.jp")
"""

from core.privacy.desk import Erased, ErasurePlan, PersonExport, erase, export, preview_erasure

__all__ = ["Erased", "ErasurePlan", "PersonExport", "erase", "export", "preview_erasure"]
