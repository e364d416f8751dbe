// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {InstitutionCore} from "../contracts/types/InstitutionCore.sol";

/**
 * @title IInstitutionRegistry
 * @notice Who may write to the xborder ledger: institutions onboarded by the regulator, each with a
 * kind, a unique identifier (LEI or unified social credit code), a jurisdiction, a capital base and
 * a set of authorised wallets. A wallet belongs to at most one institution. A suspended or revoked
 * institution's wallets can write nothing anywhere in xborder.
 *
 * Scales: `capitalBase` is in CNY minor units (1/100 yuan).
 * Identifiers: an LEI is 20 ASCII characters [0-9A-Z] whose ISO 7064 MOD 97-10 check passes
 * (ISO 17442); a unified social credit code (USCC, GB 32100-2015) is 18 ASCII characters from
 * "0123456789ABCDEFGHJKLMNPQRTUWXY", stored left-aligned in the bytes20 with two trailing zero bytes.
 * The USCC's 18th character is its check character: with the charset index v(c) of each of the
 * first 17 characters and weights w_i = 3^(i-1) mod 31 (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13,
 * 8, 24, 10, 30, 28), check = charset[(31 - sum(v x w) mod 31) mod 31].
 * Jurisdiction: ISO 3166-1 alpha-2, two uppercase ASCII letters.
 *
 * Wallet binding: a wallet is bound to an institution (as its admin or as another wallet) only with
 * proof that whoever binds it holds its key: an EIP-712 `WalletBinding` signed by the wallet
 * itself (domain "xborder InstitutionRegistry", version "2"):
 *   WalletBinding(bytes20 identifier,address wallet,uint64 nonce,uint64 deadline)
 * `identifier` = the institution's identifier, `nonce` = {bindingNonce}(wallet), consumed on use.
 *
 * Signature epoch: every institution has a uint16 epoch in its core word. Consents its wallets
 * signed name the epoch; the ledger accepts a consent only at the current epoch. The epoch moves
 * on: suspend, reinstate, revoke, removeWallet, an admin change and {revokeSignatures}; it wraps
 * from 65535 to 0 (a consent also has a deadline).
 */
interface IInstitutionRegistry {
    /// @notice Kind of institution; decides the leverage ratio and which loan roles it may take.
    enum InstitutionKind {
        DomesticBank, // 0: Chinese-funded bank (leverage 0.8)
        ForeignBankBranch, // 1: branch of a foreign bank in China (leverage 0.8)
        NonBankFinancialInstitution, // 2: leverage 1
        Enterprise, // 3: non-financial enterprise (leverage 2)
        ForeignCreditor, // 4: overseas lender; can be creditor, never borrower
        Observer // 5: regulator / observer node; can neither borrow nor lend
    }

    /// @notice Lifecycle of an institution. `None` means "not registered".
    enum InstitutionStatus {
        None, // 0
        Active, // 1
        Suspended, // 2: wallets can write nothing; reinstatable
        Revoked // 3: terminal
    }

    /// @notice Full record of an institution as returned by {getInstitution}.
    struct Institution {
        uint32 id;
        InstitutionKind kind;
        InstitutionStatus status;
        uint64 capitalBase; // CNY minor units
        address admin; // wallet that manages the institution's other wallets
        bytes20 identifier; // LEI (20 chars) or USCC (18 chars + 2 zero bytes)
        bytes2 jurisdiction; // ISO 3166-1 alpha-2
        uint32 walletCount;
        uint16 signatureEpoch; // consents must name this epoch
    }

    /// @notice A wallet's proof that it agrees to be bound: its EIP-712 `WalletBinding` signature.
    struct WalletProof {
        uint64 deadline; // unix seconds; the proof is refused after it
        bytes signature; // 65-byte (r, s, v) or 64-byte EIP-2098 signature by the wallet
    }

    // ------------------------------------------------------------------ events

    /// @notice Emitted when the regulator onboards an institution (followed by {WalletAdded} for `admin`).
    event InstitutionRegistered(
        uint32 indexed institutionId,
        address indexed admin,
        InstitutionKind kind,
        bytes20 identifier,
        bytes2 jurisdiction,
        uint64 capitalBase,
        string name
    );

    /// @notice Emitted when an institution's status changes (suspend, reinstate, revoke).
    event InstitutionStatusChanged(
        uint32 indexed institutionId, InstitutionStatus oldStatus, InstitutionStatus newStatus, address indexed by
    );

    /// @notice Emitted when the regulator updates an institution's capital base (CNY minor units).
    event CapitalBaseUpdated(uint32 indexed institutionId, uint64 oldCapitalBase, uint64 newCapitalBase);

    /// @notice Emitted when a wallet is authorised to act for an institution.
    event WalletAdded(uint32 indexed institutionId, address indexed wallet, address indexed by);

    /// @notice Emitted when a wallet stops being authorised for an institution.
    event WalletRemoved(uint32 indexed institutionId, address indexed wallet, address indexed by);

    /// @notice Emitted when an institution's admin wallet changes (key rotation).
    event AdminWalletChanged(uint32 indexed institutionId, address indexed oldAdmin, address indexed newAdmin);

    /**
     * @notice Emitted when `publicKey` (X25519, 32 bytes) becomes encryption key `version` of
     * `institutionId` (0 = the regulator). Versions count 1, 2, ...; older ones stay readable.
     */
    event EncryptionKeyRegistered(uint32 indexed institutionId, uint32 indexed version, bytes32 publicKey, address by);

    /**
     * @notice Emitted when `institutionId`'s signature epoch moves to `epoch`: every consent its
     * wallets signed at an earlier epoch is void. `by` is the wallet or regulator that caused it.
     */
    event SignatureEpochChanged(uint32 indexed institutionId, uint16 epoch, address indexed by);

    // ------------------------------------------------------------------ errors

    /// @notice `institutionId` is not registered.
    error UnknownInstitution(uint32 institutionId);
    /// @notice The institution is not Active (its wallets can write nothing).
    error InstitutionNotActive(uint32 institutionId, InstitutionStatus status);
    /// @notice `identifier` is neither a valid LEI nor a valid USCC.
    error InvalidIdentifier(bytes20 identifier);
    /// @notice `jurisdiction` is not two uppercase ASCII letters.
    error InvalidJurisdiction(bytes2 jurisdiction);
    /// @notice `identifier` already belongs to `institutionId`.
    error IdentifierTaken(bytes20 identifier, uint32 institutionId);
    /// @notice `wallet` already belongs to `institutionId`.
    error WalletAlreadyRegistered(address wallet, uint32 institutionId);
    /// @notice `wallet` is not a wallet of `institutionId`.
    error WalletNotRegistered(address wallet, uint32 institutionId);
    /// @notice The admin wallet cannot be removed; change the admin first.
    error CannotRemoveAdminWallet(uint32 institutionId, address wallet);
    /// @notice Zero address given for a wallet.
    error ZeroAddress();
    /// @notice `wallet` (belonging to `walletInstitution`, 0 if none) may not perform this action.
    error UnauthorizedWallet(address wallet, uint32 walletInstitution);
    /// @notice Status transition `from` -> `to` is not allowed for `institutionId`.
    error InvalidStatusTransition(uint32 institutionId, InstitutionStatus from, InstitutionStatus to);
    /// @notice An encryption public key must be non-zero.
    error InvalidEncryptionKey(bytes32 publicKey);
    /// @notice `institutionId` (0 = the regulator) has no encryption key `version` (it has `latest`).
    error UnknownEncryptionKey(uint32 institutionId, uint32 version, uint32 latest);
    /// @notice The proof for binding `wallet` was signed by `signer` (0 if unrecoverable), not by `wallet`.
    error InvalidWalletProof(address wallet, address signer);
    /// @notice The proof expired at `deadline` (now `timestamp`).
    error SignatureExpired(uint64 deadline, uint256 timestamp);

    // ------------------------------------------------------------------ regulator functions

    /**
     * @notice Onboard an institution; `admin` becomes its admin wallet and first authorised wallet.
     * @return institutionId Sequential id, starting at 1.
     *
     * Requirements:
     * - caller has REGULATOR_ROLE;
     * - `identifier` is a valid LEI or USCC and not yet registered;
     * - `jurisdiction` is two uppercase letters;
     * - `admin` is non-zero and belongs to no institution;
     * - `adminProof` is `admin`'s `WalletBinding` signature over (`identifier`, `admin`,
     *   {bindingNonce}(admin), deadline), not expired.
     *
     * May emit {InstitutionRegistered}, {WalletAdded}.
     */
    function registerInstitution(
        InstitutionKind kind,
        bytes20 identifier,
        bytes2 jurisdiction,
        uint64 capitalBase,
        string calldata name,
        address admin,
        WalletProof calldata adminProof
    ) external returns (uint32 institutionId);

    /**
     * @notice Suspend an Active institution: its wallets can write nothing until reinstated; its
     * signature epoch moves (consents signed before are void, also after reinstatement).
     *
     * Requirements: caller has REGULATOR_ROLE; institution is Active.
     *
     * May emit {InstitutionStatusChanged}, {SignatureEpochChanged}.
     */
    function suspendInstitution(uint32 institutionId) external;

    /**
     * @notice Reinstate a Suspended institution; its signature epoch moves.
     *
     * Requirements: caller has REGULATOR_ROLE; institution is Suspended.
     *
     * May emit {InstitutionStatusChanged}, {SignatureEpochChanged}.
     */
    function reinstateInstitution(uint32 institutionId) external;

    /**
     * @notice Revoke an Active or Suspended institution (terminal). Its loans stay on the ledger;
     * its signature epoch moves.
     *
     * Requirements: caller has REGULATOR_ROLE; institution is Active or Suspended.
     *
     * May emit {InstitutionStatusChanged}, {SignatureEpochChanged}.
     */
    function revokeInstitution(uint32 institutionId) external;

    /**
     * @notice Set an institution's capital base (CNY minor units); its borrowing limit follows at once.
     *
     * Requirements: caller has REGULATOR_ROLE; institution registered.
     *
     * May emit {CapitalBaseUpdated}.
     */
    function setCapitalBase(uint32 institutionId, uint64 capitalBase) external;

    // ------------------------------------------------------------------ institution functions

    /**
     * @notice Authorise `wallet` to act for `institutionId`, with the wallet's proof of key possession.
     *
     * Requirements:
     * - caller is the regulator (REGULATOR_ROLE), or the institution's admin wallet while the
     *   institution is Active and the registry is not paused;
     * - institution registered and not Revoked; `wallet` non-zero and belongs to no institution;
     * - `proof` is `wallet`'s `WalletBinding` signature for this institution's identifier, at
     *   {bindingNonce}(wallet), not expired.
     *
     * May emit {WalletAdded}.
     */
    function addWallet(uint32 institutionId, address wallet, WalletProof calldata proof) external;

    /**
     * @notice Remove `wallet` from `institutionId` (it may later join any institution, with a new
     * proof). The institution's signature epoch moves: consents signed by any of its wallets before
     * are void (so re-adding the wallet revives none of them).
     *
     * Requirements: as {addWallet} (no proof); `wallet` belongs to the institution and is not its admin wallet.
     *
     * May emit {WalletRemoved}, {SignatureEpochChanged}.
     */
    function removeWallet(uint32 institutionId, address wallet) external;

    /**
     * @notice Make `newAdmin` the institution's admin wallet (key rotation). `newAdmin` is added as a
     * wallet if it is not one yet (then `proof` is its `WalletBinding` signature; otherwise `proof`
     * is ignored); the old admin stays an authorised wallet until removed. The signature epoch moves.
     *
     * Requirements: as {addWallet}; `newAdmin` non-zero and either already a wallet of this
     * institution or unregistered with a valid proof.
     *
     * May emit {WalletAdded}, {AdminWalletChanged}, {SignatureEpochChanged}.
     */
    function setAdminWallet(uint32 institutionId, address newAdmin, WalletProof calldata proof) external;

    /**
     * @notice Void every consent the institution's wallets have signed and not yet seen used:
     * moves its signature epoch.
     *
     * Requirements: caller is the regulator, or the institution's admin wallet while the institution
     * is Active and the registry is not paused; institution not Revoked.
     *
     * May emit {SignatureEpochChanged}.
     */
    function revokeSignatures(uint32 institutionId) external;

    /**
     * @notice Register `publicKey` (X25519) as the next encryption key version of `institutionId`;
     * `institutionId` 0 is the regulator's own key. Earlier versions stay readable
     * ({encryptionKeyAt}): terms sealed under them name their version.
     * @return version the new key's version (1 for the first key)
     *
     * Requirements:
     * - `institutionId` 0: caller has REGULATOR_ROLE;
     * - otherwise as {addWallet}: the regulator, or the institution's admin wallet while the
     *   institution is Active and the registry is not paused; institution not Revoked;
     * - `publicKey` non-zero.
     *
     * May emit {EncryptionKeyRegistered}.
     */
    function setEncryptionKey(uint32 institutionId, bytes32 publicKey) external returns (uint32 version);

    // ------------------------------------------------------------------ views

    /// @notice Current encryption key of `institutionId` (0 = the regulator) and its version; (0, 0) if none.
    function encryptionKey(uint32 institutionId) external view returns (bytes32 publicKey, uint32 version);

    /// @notice Encryption key `version` of `institutionId`. Reverts {UnknownEncryptionKey}.
    function encryptionKeyAt(uint32 institutionId, uint32 version) external view returns (bytes32 publicKey);

    /// @notice Full record of `institutionId`. Reverts {UnknownInstitution}.
    function getInstitution(uint32 institutionId) external view returns (Institution memory);

    /// @notice The core word of `institutionId` (layout in {InstitutionCore}; 0 if unregistered; never reverts).
    function institutionCore(uint32 institutionId) external view returns (InstitutionCore);

    /// @notice Current signature epoch of `institutionId` (consents must name it).
    function signatureEpoch(uint32 institutionId) external view returns (uint16);

    /// @notice Nonce the next `WalletBinding` proof of `wallet` must carry.
    function bindingNonce(address wallet) external view returns (uint64);

    /// @notice EIP-712 digest `wallet` signs to prove it agrees to be bound to the institution `identifier`.
    function walletBindingDigest(bytes20 identifier, address wallet, uint64 nonce, uint64 deadline)
        external
        view
        returns (bytes32);

    /// @notice Institution `wallet` belongs to, 0 if none.
    function institutionOf(address wallet) external view returns (uint32);

    /// @notice Institution registered under `identifier`, 0 if none.
    function institutionByIdentifier(bytes20 identifier) external view returns (uint32);

    /// @notice Number of institutions registered so far (ids are 1..count).
    function institutionCount() external view returns (uint32);

    /**
     * @notice Everything the ledger needs for one write, in one call: the institution of `wallet`
     * and its core word, and the core words of `a` and `b` (zero when the id is 0 or unregistered).
     * Each institution slot is read at most once.
     */
    function coreWords(address wallet, uint32 a, uint32 b)
        external
        view
        returns (uint32 walletInstitution, InstitutionCore walletCore, InstitutionCore coreA, InstitutionCore coreB);

    /// @notice True when `identifier` is a valid LEI (ISO 17442 check digits) or USCC (GB 32100-2015 check character).
    function isValidIdentifier(bytes20 identifier) external pure returns (bool);
}
