"""Run the API: python -m service (host and port from MYBOX_API_HOST / MYBOX_API_PORT)."""

import logging

import uvicorn

from service.app import create_app
from service.config import load_settings


def main() -> None:
    settings = load_settings()
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port,
                log_level=settings.log_level.lower(), proxy_headers=True, timeout_graceful_shutdown=10)


if __name__ == "__main__":
    main()
