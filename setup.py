"""Packaging for libya-watch; doubles as Beam's --setup_file for remote workers."""

from setuptools import find_namespace_packages, setup

setup(
    name="libya-watch",
    version="0.1.0",
    description="Streaming ingestion of Libya-related reports on foreign military involvement",
    python_requires=">=3.11,<3.12",
    # The data folders (YAML) are listed as packages of their own, so setuptools
    # ships them with their files instead of warning about them.
    packages=find_namespace_packages(include=["pipeline", "pipeline.*", "connectors",
                                              "connectors.*", "transforms", "transforms.*"]),
    package_data={"connectors.data": ["*.yaml"], "transforms.data": ["*.yaml"],
                  "pipeline.data": ["*.yaml"]},
    install_requires=[
        "apache-beam>=2.77.0,<2.78",
        "feedparser>=6.0,<7",
        "httpx>=0.28,<0.29",
        "elasticsearch>=8.19,<9",
        "PyYAML>=6.0,<7",
        "pyahocorasick>=2.1,<3",
        "py3langid>=0.3,<0.5",
        "datasketch>=1.6,<2",
        "numpy>=1.24,<3",  # MinHash signatures and story banding, vectorised
    ],
    extras_require={
        "test": ["pytest>=8,<10", "aiosmtpd>=1.4,<2", "trustme>=1.1,<2"],
    },
    entry_points={"console_scripts": ["libya-watch=pipeline.cli:main"]},
)
