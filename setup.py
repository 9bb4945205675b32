"""Install mmhuman_imphmr (an OpenMMLab-2.0 plugin).

Dependencies are listed in ``requirements/``; ``make install`` installs them in
the right order (mmpose without its broken requirements) and then this package
in editable mode. ``pip install -e .`` alone installs only what PyPI can
resolve cleanly: see the README.
"""
import os.path as osp

from setuptools import find_packages, setup


def read_version() -> str:
    namespace = {}
    with open(osp.join('mmhuman_imphmr', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def read_requirements(name: str) -> list:
    requirements = []
    with open(osp.join('requirements', name)) as f:
        for line in f:
            line = line.split('#')[0].strip()
            if line:
                requirements.append(line)
    return requirements


setup(
    name='mmhuman_imphmr',
    version=read_version(),
    description='ImpHMR (CVPR 2023): implicit 3D human mesh recovery, '
    'an OpenMMLab-2.0 plugin',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'data')),
    python_requires='>=3.9',
    install_requires=read_requirements('runtime.txt') +
    read_requirements('mminstall.txt'),
    extras_require={'tests': read_requirements('tests.txt')},
    license='Apache-2.0',
    zip_safe=False,
)
