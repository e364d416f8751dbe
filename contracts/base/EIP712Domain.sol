// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC5267} from "@openzeppelin/contracts/interfaces/IERC5267.sol";

/**
 * @title EIP712Domain
 * @notice The EIP-712 domain of an xborder contract (name, version, chainId, verifyingContract), with
 * EIP-5267 discovery ({eip712Domain}).
 *
 * Hand-built because OpenZeppelin 5.x's `EIP712` imports `utils/Bytes.sol`, which uses `mcopy`
 * (Cancun) and does not compile for the `paris` target Ganache needs. The separator is computed
 * exactly as OpenZeppelin's: keccak256(abi.encode(EIP712Domain typehash, keccak(name),
 * keccak(version), chainid, this)), cached and recomputed if the chain id changes (a fork).
 */
abstract contract EIP712Domain is IERC5267 {
    bytes32 private constant _DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    bytes32 private immutable _hashedName;
    bytes32 private immutable _hashedVersion;
    bytes32 private immutable _cachedDomainSeparator;
    uint256 private immutable _cachedChainId;

    constructor() {
        (string memory name, string memory version) = _domainNameAndVersion();
        _hashedName = keccak256(bytes(name));
        _hashedVersion = keccak256(bytes(version));
        _cachedChainId = block.chainid;
        _cachedDomainSeparator = _buildDomainSeparator();
    }

    /// @notice EIP-712 domain separator of this contract (recomputed if the chain id changes).
    function DOMAIN_SEPARATOR() public view returns (bytes32) {
        // solhint-disable-previous-line func-name-mixedcase
        return block.chainid == _cachedChainId ? _cachedDomainSeparator : _buildDomainSeparator();
    }

    /// @notice EIP-5267: the fields of this contract's EIP-712 domain (name, version, chainId, verifyingContract).
    function eip712Domain()
        external
        view
        returns (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        )
    {
        (name, version) = _domainNameAndVersion();
        return (hex"0f", name, version, block.chainid, address(this), bytes32(0), new uint256[](0));
    }

    /// @dev The domain's name and version (constants of the inheriting contract).
    function _domainNameAndVersion() internal pure virtual returns (string memory name, string memory version);

    /// @dev The digest to sign for a struct whose EIP-712 hashStruct is `structHash`.
    function _hashTypedData(bytes32 structHash) internal view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", DOMAIN_SEPARATOR(), structHash));
    }

    function _buildDomainSeparator() private view returns (bytes32) {
        return keccak256(abi.encode(_DOMAIN_TYPEHASH, _hashedName, _hashedVersion, block.chainid, address(this)));
    }
}
