"""Install mmhuman_imphmr (an OpenMMLab-2.0 plugin).

``install_requires`` (``requirements/runtime.txt``) names what the package
needs without pinning a platform build: ``torch>=2.0`` keeps a GPU box's CUDA
torch. mmcv is not a requirement because pip cannot say "mmcv or mmcv-lite":
full mmcv 2.x (compiled) and mmcv-lite provide the same ``mmcv`` package, so
the pure-Python build is the extra ``[lite]``; ``import mmhuman_imphmr`` says
what to install when neither is there. mmpose is installed separately with
``--no-deps`` (``requirements/mmpose.txt``: its own requirements pull chumpy,
which does not build on Python 3.11). See the README's installation section;
``make install`` adds the exact versions of the project's machines
(``requirements/pinned.txt``).
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
    install_requires=read_requirements('runtime.txt'),
    extras_require={
        'lite': read_requirements('mminstall.txt'),
        'tests': read_requirements('tests.txt'),
    },
    license='Apache-2.0',
    zip_safe=False,
)
