"""`hashinsight screenshots`: one SVG per console screen, taken from a live demo run."""

from __future__ import annotations

import asyncio
from pathlib import Path

from backend.settings import Settings
from backend.sim.demo_world import DemoWorld
from hashinsight_tui.app import SCREENS, HashInsightApp
from hashinsight_tui.launcher import (
    console_options,
    demo_settings,
    remove_demo_dir,
    start_embedded,
)

SIZE = (120, 36)
SETTLE_S = 3.0


async def write_screenshots(settings: Settings, out: Path) -> list[Path]:
    """Run the demo world, open every screen, wait for live data, save each as SVG."""
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    demo = demo_settings(settings)
    target = await asyncio.to_thread(start_embedded, demo, "demo", DemoWorld())
    written: list[Path] = []
    try:
        app = HashInsightApp(console_options(settings, target))
        async with app.run_test(size=SIZE) as pilot:
            for _ in range(100):
                if app.store.state == "connected" and app.store.health is not None:
                    break
                await pilot.pause(0.1)
            for name, _title, key, _cls in SCREENS:
                await pilot.press(key)
                await pilot.pause(SETTLE_S)
                path = out / f"{name}.svg"
                app.save_screenshot(filename=path.name, path=str(out))
                written.append(path)
    finally:
        if target.embedded is not None:
            await asyncio.to_thread(target.embedded.stop)
        await asyncio.to_thread(remove_demo_dir, demo)
    return written
